"""Walk a data set and apply each element's decision, at every depth.

The walker asks the decider (`deid.decide`) about every element and applies
the answer through the action table (`deid.apply`). It knows nothing of HIPAA
or GDPR: profiles carry that. One walk makes a plan (each element and its
decision); the plan is used twice: first to collect the file's own
identifying values (so a description can be cleaned of a name that appears
later in tag order), then to change the data set.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag
from pydicom.uid import UID_dictionary

from deid import actions
from deid.actions import TEXT_VRS
from deid.apply import REMOVE, UNCHANGED, FileContext, action_for, apply
from deid.decide import SAFE_PRIVATE, Decider, FileDecider, dictionary_vr
from deid.elements import stored
from deid.errors import InputFileError
from deid.forms import raw_has_form, value_has_form
from deid.profiles import Decision
from deid.risk.identifiers import IdentifierSet, kind_for
from deid.standard import IodTypes
from deid.subject_context import drop_repeated_identity
from deid.text.tokens import words

__all__ = [
    "FileContext", "Plan", "collect", "kept_class", "path_text", "plan", "scrub", "tag_name"
]


# Both are asked for every changed element of every file, with the same few
# hundred tags and paths: built once per worker (bounded: private tags vary).
@lru_cache(maxsize=8192)
def tag_name(tag: int) -> str:
    return keyword_for_tag(tag) or f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


@lru_cache(maxsize=8192)
def path_text(path: tuple[tuple[int, int], ...], tag: int) -> str:
    parts = [f"{tag_name(t)}[{i}]" for t, i in path]
    return ".".join(parts + [tag_name(tag)])


Step = tuple[Dataset, int, Any, "Decision | None", tuple]


@dataclass
class Plan:
    """Each element of a data set, in walk order, with the decision for it."""

    steps: list[Step]
    private_removed: int = 0
    private_why: str = ""
    private_code: str = ""
    iod: IodTypes | None = None  # the file's IOD, None when its SOP class is not standard
    relabelled: list[Relabel] = field(default_factory=list)
    dropped_items: list[str] = field(default_factory=list)  # SR items repeating the header


# ---------------------------------------------------------------------- walk


def _walk(
    decider: FileDecider,
    ds: Dataset,
    seq_tags: tuple[int, ...],
    path: tuple[tuple[int, int], ...],
    relabelled: list[Relabel],
) -> Iterator[Step]:
    """Yield (dataset, tag, element, decision, path) for every element.

    An element pydicom cannot decode comes back with element None: it cannot
    be inspected, so the caller removes it.
    """
    for tag, stored_elem in list(stored(ds).items()):
        decision, vr = None, ""
        if not tag >> 16 & 1:  # not private
            # Decide on the undecoded element: values kept as they are need
            # not be decoded at all (most of a header).
            standard = dictionary_vr(tag)
            vr = stored_elem.VR or standard
            if vr != standard and stored_elem.is_raw:
                vr = _as_standard(ds, tag, stored_elem, standard, path, relabelled)
            decision = decider.standard(tag, vr, seq_tags)
            if decision.action == "keep" and vr not in _INSPECTED_WHEN_KEPT:
                yield ds, int(tag), _Unread(tag, vr), decision, path
                continue
        try:
            elem = ds[tag]
        except Exception:  # noqa: BLE001 - any decoding failure means "cannot inspect"
            yield ds, int(tag), None, None, path
            continue
        if decision is None or vr != elem.VR:  # private, or VR resolved on decoding
            decision = decider.decide(ds, elem, seq_tags)
        yield ds, int(tag), elem, decision, path
        if elem.VR == "SQ" and decision.action not in ("remove", "empty") and elem.value:
            for i, item in enumerate(elem.value):
                where = path + ((int(tag), i),)
                yield from _walk(decider, item, seq_tags + (int(tag),), where, relabelled)


# (path, tag, VR as written, the standard's VR)
Relabel = tuple[tuple[tuple[int, int], ...], int, str, str]
# VRs whose values deid reads as free text, names or identifiers (decided
# and cleaned as such): a value of any text may be relabelled into them.
_FREE_VRS = frozenset({"AE", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})
_SHORT_FREE_VRS = frozenset({"AE", "LO", "LT", "PN", "SH", "ST"})
# Into a VR of a strict form (deid.forms), which a profile may keep unread,
# a value is relabelled only when it has that form, which no name or free
# text has. Never into CS: "JOHN SMITH" is a valid code. Into free text: text.
_TEXT_BYTES = re.compile(rb"[\x20-\x7e]*[\x00 ]?")


def _as_standard(
    ds: Dataset,
    tag: BaseTag,
    raw: RawDataElement,
    standard: str,
    path: tuple,
    relabelled: list[Relabel],
) -> str:
    """The VR an element is decided and written in. A standard attribute a
    file writes in another VR (PatientName as LO, a date as UL) would be
    written so again: invalid, and decided as what it is not. It is
    relabelled (bytes unchanged) only where that cannot keep more than its
    written VR would: into a free-text VR, text; into a strict VR (a code,
    a number, a time, which profiles may keep unread), only a value of that
    form. Everything else stays as written."""
    vr, value = raw.VR, raw.value
    if vr in ("UN", "SQ") or not isinstance(value, bytes):  # value None: not read yet
        return vr
    if standard in _FREE_VRS:
        fits = _TEXT_BYTES.fullmatch(value) is not None
        fits = fits and (standard not in _SHORT_FREE_VRS or len(value) <= 0xFFFF)
    else:
        fits = raw_has_form(standard, value)
    if not fits:
        return vr
    stored(ds)[tag] = raw._replace(VR=standard)
    relabelled.append((path, int(tag), vr, standard))
    return standard


def plan(decider: Decider, ds: Dataset, private_cut: int = 0) -> Plan:
    """Walk once: every element with its decision, for collect and scrub.

    Private attributes that the profile removes wholesale go first,
    undecoded; nothing of them can survive or needs collecting.
    `private_cut`: how many were removed before the file was parsed.
    """
    removed = private_cut + (_drop_all_private(ds) if decider.private_wholesale else 0)
    default = decider.profile.private_default
    bound = decider.bind(ds)
    dropped = drop_repeated_identity(bound, ds)
    relabelled: list[Relabel] = []
    steps = list(_walk(bound, ds, (), (), relabelled))
    return Plan(steps, removed, default.why, default.code, bound.iod, relabelled, dropped)


# ------------------------------------------------------------------- collect


def collect(steps: list[Step]) -> IdentifierSet:
    """The identifying values this file holds in attributes that change."""
    found = IdentifierSet()
    for parent, tag, elem, decision, path in steps:
        if elem is None or decision is None or elem.VR == "SQ":
            continue  # undecodable: removed, nothing survives
        if decision.action == "keep" and decision is not SAFE_PRIVATE:
            continue
        values = string_values(elem)
        if not values:
            continue
        where = path_text(path, tag)
        if tag == _STATION_NAME and _names_the_model(parent, values):
            continue
        if not elem.tag.is_private:
            # An unlisted attribute the IOD requires, kept and cleaned, names a
            # thing the object needs (a channel, a segment): its value, hunted
            # as an ID, was cleaned out of itself. One the profile removes
            # (no place for it in the IOD) may be anyone's: still hunted.
            by_name = decision.listed or decision.action != "clean"
            kind = kind_for(keyword_for_tag(tag) or "", elem.VR, by_name)
            if kind:
                for value in values:
                    found.add(kind, value, where)
        if elem.VR in TEXT_VRS or elem.VR == "UN":
            for value in values:
                found.add_from_text(value, where)
    return found


def kept_class(ds: Dataset, steps: list[Step], identifiers: IdentifierSet) -> str:
    """The object's own SOP class when it may be kept unmapped wherever it
    appears: a vendor's private class names what the object is, and a
    mapped one leaves no viewer able to read it. Not when the value is no
    UID (letters can spell a name), holds one of the file's identifying
    values (a birth date among its digits), or is also an instance UID the
    profile maps (a study UID written as the class would keep the study,
    in the output and in its folder's name)."""
    value = str(ds.get("SOPClassUID", "") or "").strip("\x00 ")
    if value in UID_dictionary:
        return value  # kept as every registered UID is: nothing to look for
    if not value_has_form("UI", value) or "\\" in value:
        return ""
    # Each component alone: a date is not looked for inside a dotted number.
    if any(True for _ in identifiers.terms().find(value.replace(".", " "))):
        return ""
    for _, tag, elem, decision, _ in steps:
        if elem is None or decision is None or decision.action == "keep" or elem.VR != "UI":
            continue
        if not tag_name(tag).endswith("ClassUID") and value in string_values(elem):
            return ""
    return value


_STATION_NAME = 0x00081010


def _names_the_model(ds: Dataset, values: list[str]) -> bool:
    """A station named after its scanner ("SKYRA" for a Skyra) says no more
    than the model name the profile keeps: hunted as an identifier, it
    emptied ManufacturerModelName, or withheld an Enhanced MR that requires
    it. Only every word of it in Manufacturer or the model name counts."""
    known = set(words(f"{ds.get('Manufacturer', '')} {ds.get('ManufacturerModelName', '')}"))
    return bool(known) and all(set(words(v)) <= known for v in values)


# --------------------------------------------------------------------- apply


def scrub(ds: Dataset, planned: Plan, ctx: FileContext, private_wholesale: bool) -> None:
    """Change the data set as planned; every change is noted in ctx."""
    counts = ctx.counts
    for parent, tag, elem, decision, path in planned.steps:
        if elem is None or decision is None:
            del parent[tag]
            _note(ctx, path, tag, "remove", "X", "value cannot be decoded")
        elif decision.action == "keep" and elem.VR not in _INSPECTED_WHEN_KEPT:
            counts["keep"] += 1  # most of a header: nothing to apply or note
        elif elem.VR == "SQ":
            _apply_sequence(parent, elem, decision, ctx, path)
        elif decision.action != "private-creator":
            _apply_element(parent, elem, decision, ctx, path)
    if planned.private_removed:
        ctx.counts["remove"] += planned.private_removed
        ctx.changes.append(
            {
                "path": "(private attributes)",
                "action": "remove",
                "code": planned.private_code,
                "why": f"{planned.private_removed} private attributes removed: "
                + planned.private_why,
            }
        )
    for meaning in planned.dropped_items:
        ctx.counts["remove"] += 1
        ctx.changes.append(
            {
                "path": f"ContentSequence item ({meaning})",
                "action": "remove",
                "code": "X",
                "why": "repeats the header's patient birth date or age, which the profile "
                "changes otherwise: removed whole",
            }
        )
    for path, tag, written, standard in planned.relabelled:
        ctx.changes.append(
            {
                "path": path_text(path, tag),
                "action": "relabel",
                "code": "",
                "why": f"written as {written}; the standard's VR is {standard} (PS3.6): "
                "relabelled, its bytes unchanged",
            }
        )
    if not private_wholesale:
        _drop_orphan_private_creators(ds)


def _drop_all_private(ds: Dataset) -> int:
    """Remove every private element at every depth, without decoding them."""
    removed = 0
    for tag, elem in list(stored(ds).items()):
        if tag >> 16 & 1:  # odd group: private (CPU-bound loop, hence no tag.is_private)
            del ds[tag]
            removed += 1
        elif (elem.VR or dictionary_vr(tag)) == "SQ":
            try:
                items = ds[tag].value or []
            except Exception:  # noqa: BLE001 - the walk reports undecodable elements
                continue
            for item in items:
                removed += _drop_all_private(item)
    return removed


def _note(ctx: FileContext, path: tuple, tag: int, action: str, code: str, why: str) -> None:
    ctx.counts[action] += 1
    if action != "keep":
        ctx.changes.append(
            {"path": path_text(path, tag), "action": action, "code": code, "why": why}
        )


def _apply_sequence(
    parent: Dataset, elem: DataElement, decision: Decision, ctx: FileContext, path: tuple
) -> None:
    action = decision.action
    if action == "remove":
        del parent[elem.tag]
    elif action == "empty":
        elem.value = Sequence()
    else:
        action = "keep"  # walked: every item's elements decided on their own
    _note(ctx, path, int(elem.tag), action, decision.code, decision.why)


def _apply_element(
    parent: Dataset, elem: DataElement, decision: Decision, ctx: FileContext, path: tuple
) -> None:
    if elem.VR in ("DA", "DT"):
        ctx.dates.add(action_for(decision.action).changes_dates)
    try:
        new = apply(elem, decision, ctx)
    except (ArithmeticError, TypeError, ValueError) as exc:
        # Said by place, never by value (an exception's text may quote it).
        raise InputFileError(
            f"{path_text(path, int(elem.tag))} ({elem.VR}) holds a value deid cannot "
            f"{decision.action} ({type(exc).__name__})"
        ) from None
    action, why = decision.action, decision.why
    if new is REMOVE:
        del parent[elem.tag]
        if action != "remove":
            why += " (no safe value)"
        action = "remove"
    elif new is not UNCHANGED:
        elem.value = new
    _note(ctx, path, int(elem.tag), action, decision.code, why)


@dataclass(frozen=True)
class _Unread:
    """A kept element left undecoded: only its tag and VR are looked at."""

    tag: BaseTag
    VR: str


# Kept elements that are still decoded: sequences are walked into, dates are
# counted for LongitudinalTemporalInformationModified.
_INSPECTED_WHEN_KEPT = frozenset({"SQ", "DA", "DT"})


def string_values(elem: DataElement, text_only: bool = False) -> list[str]:
    """An element's values as text. Binary values up to 64 KiB are read as
    Latin-1; with `text_only`, only when they are mostly printable."""
    value = elem.value
    if value is None:
        return []
    if elem.VR == "UN" or isinstance(value, bytes):
        if not isinstance(value, bytes) or len(value) > 65536:
            return []
        text = value.decode("latin-1").strip("\x00 ")
        if text_only and sum(c.isprintable() for c in text) < 0.9 * len(text):
            return []
        return [text] if text else []
    if isinstance(value, MultiValue | list | tuple):
        return [str(v) for v in value if v is not None and str(v).strip()]
    text = str(value)
    return [text] if text.strip() else []


def _drop_orphan_private_creators(ds: Dataset) -> None:
    """A creator whose block lost all its elements is removed with it."""
    for tag, elem in stored(ds).items():
        # Only sequences are decoded; other values are left as read.
        if (elem.VR or dictionary_vr(tag)) == "SQ":
            for item in ds[tag].value or []:
                _drop_orphan_private_creators(item)
    creators = [t for t in ds.keys() if t.is_private and t.is_private_creator]
    if not creators:
        return
    used = {
        (t.group, t.element >> 8)
        for t in ds.keys()
        if t.is_private and not t.is_private_creator and t.element >= 0x1000
    }
    for t in creators:
        if (t.group, t.element) not in used:
            del ds[t]


PATIENT_KEYWORDS = ("PatientID", "PatientName", "PatientBirthDate", "StudyInstanceUID")


def patient_key(ds: Dataset) -> str:
    """What makes two files the same patient: the ID, else name + birth date."""
    values = (str(ds.get(k, "") or "") for k in PATIENT_KEYWORDS)
    return patient_key_of(*values)


def patient_key_of(pid: str, name: str, birth: str, study: str) -> str:
    """patient_key from the values themselves (deid.claims reads them from a
    header's bytes): outputs are filed under it, so two inputs are one
    object exactly when this and their UIDs agree."""
    pid = pid.strip()
    if pid:
        return pid
    name, birth = name.strip(), birth.strip()
    if name:
        return f"name:{name}|{birth}"
    return "study:" + study


def reference_date(ds: Dataset) -> date:
    """The date an age is counted to: the study, else the content, else 2000."""
    for keyword in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate"):
        parsed = actions.parse_da(str(ds.get(keyword, "") or ""))
        if parsed:
            return parsed
    return date(2000, 1, 1)
