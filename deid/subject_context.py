"""An SR's subject context repeats the header's patient identity: those
content items follow the header's rules, or go.

A structured report may state the subject's birth date and age as content
items (TID 1007: Subject Birth Date, Subject Age; LOINC's and SNOMED CT's
birth date and ages elsewhere). The header's
PatientBirthDate and PatientAge are coarsened or removed by the profile
(Safe Harbor: ages over 89 as 090Y, no birth year implying them; GDPR
anonymisation: five-year bands), while the same values in content items
met only the generic rules for dates and numbers: a birth date reduced to
its year, an age of 93 kept. An item whose value the header's rule would
treat otherwise than the item's own rule does is removed whole: both items
are optional in their templates, and a DATE or NUM item cannot hold a value
coarsened into the header's form. By-reference relationships count items
by position, so references past a removed item are renumbered; a file
that refers to a removed item itself cannot be kept whole, and fails.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import Tag

from deid.decide import FileDecider
from deid.errors import InputFileError

CONTENT_SEQUENCE = 0x0040A730
_REFERENCED_ITEM = 0x0040DB73  # ReferencedContentItemIdentifier
_DATE = 0x0040A121
# (code value, scheme) -> (its name for the report, header attribute, its
# VR, the item's value attribute). The report names the concept, never the
# file's own CodeMeaning: that is the input's text.
# LOINC's and SNOMED CT's concepts stand for the same in vendors' and
# others' templates (DICOM names them "LN" and "SCT"; "LNC" is LOINC's HL7
# name, "SRT" SNOMED's older DICOM one).
_BIRTH_DATE = ("Subject Birth Date", 0x00100030, "DA", _DATE)
_AGE = ("Subject Age", 0x00101010, "AS", None)  # a NUM: kept as a number
_CODES = {
    _BIRTH_DATE: {"DCM": ("121031",), "LN": ("21112-8",), "SCT": ("184099003",)},
    _AGE: {
        "DCM": ("121033",),
        "LN": ("30525-0", "21612-7", "29553-5"),  # age; reported; calculated
        "SCT": ("397659008", "424144002"),  # age; current chronological age
    },
}
_SAME_SCHEME = {"LN": ("LN", "LNC"), "SCT": ("SCT", "SRT"), "DCM": ("DCM",)}
_REPEATS_HEADER = {
    (code, written): entry
    for entry, schemes in _CODES.items()
    for scheme, codes in schemes.items()
    for code in codes
    for written in _SAME_SCHEME[scheme]
}
Place = tuple[int, ...]  # an item's place: 1 (the root), then 1-based positions


def drop_repeated_identity(decider: FileDecider, ds: Dataset) -> list[str]:
    """Remove, at any depth, content items that repeat the header's birth
    date or age where the profile changes those; their concepts' names."""
    dropped: list[tuple[Place, str]] = []
    if CONTENT_SEQUENCE in ds:
        _drop(decider, ds, (), (1,), dropped)
    if dropped:
        _renumber(ds, [path for path, _ in dropped])
    return [name for _, name in dropped]


def _items(ds: Dataset) -> list[Dataset] | None:
    """A ContentSequence's items; None where it is not one (another VR)."""
    items = ds[CONTENT_SEQUENCE].value
    if not isinstance(items, Sequence) or not all(isinstance(i, Dataset) for i in items):
        return None
    return list(items)


def _drop(
    decider: FileDecider,
    ds: Dataset,
    seq_tags: tuple[int, ...],
    where: Place,
    dropped: list[tuple[Place, str]],
) -> None:
    items = _items(ds)
    if items is None:
        return
    inner = seq_tags + (CONTENT_SEQUENCE,)
    kept = []
    for position, item in enumerate(items, 1):
        name = _repeats_header(decider, item, inner)
        if name:
            dropped.append((where + (position,), name))
            continue
        kept.append(item)
        if CONTENT_SEQUENCE in item:
            _drop(decider, item, inner, where + (position,), dropped)
    if len(kept) == len(items):
        return
    if kept:
        ds[CONTENT_SEQUENCE].value = Sequence(kept)
    else:
        del ds[CONTENT_SEQUENCE]


def _repeats_header(decider: FileDecider, item: Dataset, seq_tags: tuple[int, ...]) -> str:
    """The concept's name when the item must go, else ""."""
    names = item.get("ConceptNameCodeSequence")
    if not isinstance(names, Sequence) or not names or not isinstance(names[0], Dataset):
        return ""  # none, or written in another VR: nothing to go by
    code = names[0]
    key = (
        str(code.get("CodeValue", "")).strip(),
        str(code.get("CodingSchemeDesignator", "")).strip(),
    )
    entry = _REPEATS_HEADER.get(key)
    if entry is None:
        return ""
    name, header_tag, header_vr, value_tag = entry
    header = decider.standard(Tag(header_tag), header_vr, ())
    if header.action == "keep":
        return ""
    if value_tag is not None:
        own = decider.standard(Tag(value_tag), "DA", seq_tags)
        date_clean = decider.profile.meta.date_clean
        if _effect(own.action, date_clean) == _effect(header.action, date_clean):
            return ""
    return name


def _effect(action: str, date_clean: str) -> str:
    """What an action does to a date: "clean" is the profile's date rule."""
    if action == "clean":
        return {"shift": "shift-date", "year": "year"}.get(date_clean, action)
    return action


def _renumber(ds: Dataset, dropped: list[Place]) -> None:
    """Every by-reference relationship past a removed item points one item
    earlier for each removed sibling before its target."""
    for item in _every_item(ds):
        if _REFERENCED_ITEM not in item:
            continue
        value = item[_REFERENCED_ITEM].value
        refs = list(value) if isinstance(value, MultiValue | list | tuple) else [value]
        try:
            target = tuple(int(v) for v in refs)
        except (TypeError, ValueError):
            continue  # not a reference deid can read: left as it is
        moved = _moved(target, dropped)
        if moved != target:
            item[_REFERENCED_ITEM].value = list(moved)


def _moved(target: Place, dropped: list[Place]) -> Place:
    moved = list(target)
    for gone in dropped:
        parent, position = gone[:-1], gone[-1]
        if target[: len(parent)] != parent or len(target) <= len(parent):
            continue
        if target[len(parent)] == position:
            raise InputFileError(
                "a by-reference relationship in the report points at a content item that "
                "repeats the patient's birth date or age, which the profile removes: the "
                "report cannot be kept whole"
            )
        if target[len(parent)] > position:
            moved[len(parent)] -= 1
    return tuple(moved)


def _every_item(ds: Dataset) -> Iterator[Dataset]:
    yield ds
    if CONTENT_SEQUENCE in ds:
        for item in _items(ds) or []:
            yield from _every_item(item)
