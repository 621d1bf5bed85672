"""An SR's subject context repeats the header's patient identity: those
content items follow the header's rules, or go.

A structured report may state the subject's birth date and age as content
items (TID 1007: Subject Birth Date, Subject Age). The header's
PatientBirthDate and PatientAge are coarsened or removed by the profile
(Safe Harbor: ages over 89 as 090Y, no birth year implying them; GDPR
anonymisation: five-year bands), while the same values in content items
met only the generic rules for dates and numbers: a birth date reduced to
its year, an age of 93 kept. An item whose value the header's rule would
treat otherwise than the item's own rule does is removed whole: both items
are optional in their templates, and a DATE or NUM item cannot hold a value
coarsened into the header's form.
"""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import Tag

from deid.decide import FileDecider

CONTENT_SEQUENCE = 0x0040A730
_DATE = 0x0040A121
# (code value, scheme) -> (header attribute, its VR, the item's value attribute)
_REPEATS_HEADER = {
    ("121031", "DCM"): (0x00100030, "DA", _DATE),  # Subject Birth Date
    ("121033", "DCM"): (0x00101010, "AS", None),  # Subject Age (a NUM: kept as a number)
}


def drop_repeated_identity(decider: FileDecider, ds: Dataset) -> list[str]:
    """Remove, at any depth, content items that repeat the header's birth
    date or age where the profile changes those; their concept names, for
    the report."""
    dropped: list[str] = []
    if CONTENT_SEQUENCE in ds:
        _drop(decider, ds, (), dropped)
    return dropped


def _drop(decider: FileDecider, ds: Dataset, seq_tags: tuple[int, ...], dropped: list[str]) -> None:
    items = ds[CONTENT_SEQUENCE].value or []
    inner = seq_tags + (CONTENT_SEQUENCE,)
    kept = []
    for item in items:
        meaning = _repeats_header(decider, item, inner)
        if meaning:
            dropped.append(meaning)
            continue
        kept.append(item)
        if CONTENT_SEQUENCE in item:
            _drop(decider, item, inner, dropped)
    if len(kept) == len(items):
        return
    if kept:
        ds[CONTENT_SEQUENCE].value = Sequence(kept)
    else:
        del ds[CONTENT_SEQUENCE]


def _repeats_header(decider: FileDecider, item: Dataset, seq_tags: tuple[int, ...]) -> str:
    """The item's concept meaning when it must go, else ""."""
    names = item.get("ConceptNameCodeSequence")
    if not names:
        return ""
    code = names[0]
    key = (
        str(code.get("CodeValue", "")).strip(),
        str(code.get("CodingSchemeDesignator", "")).strip(),
    )
    entry = _REPEATS_HEADER.get(key)
    if entry is None:
        return ""
    header_tag, header_vr, value_tag = entry
    header = decider.standard(Tag(header_tag), header_vr, ())
    if header.action == "keep":
        return ""
    if value_tag is not None:
        own = decider.standard(Tag(value_tag), "DA", seq_tags)
        date_clean = decider.profile.meta.date_clean
        if _effect(own.action, date_clean) == _effect(header.action, date_clean):
            return ""
    return str(code.get("CodeMeaning", "") or key[0])


def _effect(action: str, date_clean: str) -> str:
    """What an action does to a date: "clean" is the profile's date rule."""
    if action == "clean":
        return {"shift": "shift-date", "year": "year"}.get(date_clean, action)
    return action
