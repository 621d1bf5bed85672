"""Applying a decision to one element: one table, action name -> function.

Each action is declared once, with the sentence that `deid profiles show`
and the documentation print, next to the code that does it (as dicognito's
handlers describe themselves). Profiles are validated against this table,
so an action a profile names always exists here.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from pydicom.datadict import dictionary_VM, keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.multival import MultiValue
from pydicom.uid import UID_dictionary

from deid import actions
from deid.actions import TEXT_VRS

if TYPE_CHECKING:
    from deid.profiles import Decision
    from deid.pseudonyms import Pseudonymizer
    from deid.risk.identifiers import Identifier, IdentifierSet
    from deid.text.terms import PhraseIndex

_PATIENT_ID = 0x00100020


class _Sentinel:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


REMOVE = _Sentinel("REMOVE")  # the element is deleted
UNCHANGED = _Sentinel("UNCHANGED")  # the value stays as read


@dataclass
class FileContext:
    """What applying needs to know about one file, and what it records."""

    patient_key: str
    patient_pseudonym: str
    date_offset: int
    reference_date: date
    identifiers: IdentifierSet
    pseudonymizer: Pseudonymizer
    date_clean: str = "shift"  # how C treats dates: shift | year
    cleaning: PhraseIndex[Identifier] | None = None  # the file's own values, for clean
    uid_map: dict[str, str] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    changes: list[dict[str, str]] = field(default_factory=list)
    dates: set[str] = field(default_factory=set)
    # The object's own SOP class, kept wherever it appears, a vendor's
    # private one too (it names what the object is, never who).
    own_class: str = ""

    def uid(self, value: str) -> str:
        value = value.strip("\x00 ")
        if not value or value in UID_dictionary or value == self.own_class:
            return value
        new = self.uid_map.get(value)
        if new is None:
            new = self.uid_map[value] = self.pseudonymizer.uid(value)
        return new


ActionFn = Callable[[DataElement, "Decision", FileContext], object]


@dataclass(frozen=True)
class Action:
    name: str
    description: str
    fn: ActionFn
    changes_dates: str = "removed"  # what a DA/DT under this action counts as


def map_values(elem: DataElement, fn: Callable[[str], str]) -> object:
    """Apply fn to each value of a (possibly multi-valued) element."""
    value = elem.value
    if value is None or value == "":
        return value
    if isinstance(value, MultiValue | list | tuple):
        return [fn(str(v)) for v in value]
    return fn(str(value))


def _empty(elem: DataElement, decision: Decision, ctx: FileContext) -> object:
    return None if elem.VR not in TEXT_VRS | {"CS", "DA", "DT", "TM", "AS", "UI"} else ""


def _uid(elem: DataElement, decision: Decision, ctx: FileContext) -> object:
    return map_values(elem, ctx.uid)


def _dummy(elem: DataElement, decision: Decision, ctx: FileContext) -> object:
    if elem.VR == "UI":
        mapped = map_values(elem, ctx.uid)
        return mapped if not _is_empty(mapped) else ctx.pseudonymizer.uid("dummy")
    if elem.tag == _PATIENT_ID:
        # Any dummy is allowed; the patient's keyed pseudonym (also the output
        # folder) keeps patients apart without naming them.
        return ctx.patient_pseudonym
    return dummy_value(elem)


def dummy_value(elem: DataElement) -> object:
    """A dummy with the element's VR and as many values as its VM requires
    (a VM of 2 or 3 needs 2 or 3 values), or as the element had where its
    VM allows more: a TimeOfLastCalibration of two values became one, no
    longer pairing with its DateOfLastCalibration's two."""
    value = actions.dummy(elem.VR)
    try:
        vm = dictionary_VM(elem.tag)
    except KeyError:
        return value
    least = int(re.match(r"\d*", vm).group() or 1)
    count = least
    if "-" in vm:  # "1-n", "2-2n", "1-3": as many as it had, within the range
        had = len(elem.value) if isinstance(elem.value, MultiValue | list | tuple) else 1
        most = re.search(r"-(\d+)$", vm)
        count = max(least, min(had, int(most.group(1))) if most else had)
    return value if count <= 1 or isinstance(value, bytes) else [value] * count


def _is_empty(value: object) -> bool:
    if value is None or value == "" or value == b"":
        return True
    if isinstance(value, list | tuple | MultiValue):
        return all(_is_empty(v) for v in value)
    return False


def required_value(
    elem: DataElement, decision: Decision, new: object, ctx: FileContext
) -> object:
    """What the IOD still needs after an action: a Type 1 attribute keeps a
    (dummy) value, a Type 2 attribute stays present (empty)."""
    if decision.need == "value" and (new is REMOVE or _is_empty(new)):
        return _dummy(elem, decision, ctx)
    if decision.need == "present" and new is REMOVE:
        return _empty(elem, decision, ctx)
    return new


def dates(elem: DataElement, mode: str, ctx: FileContext) -> object:
    """DA/DT shifted by the patient's offset or reduced to the year."""
    vr = elem.VR
    shift = mode == "shift"
    if vr == "DA":
        fn = (lambda v: actions.shift_da(v, ctx.date_offset)) if shift else actions.year_da
    elif vr == "DT":
        fn = (lambda v: actions.shift_dt(v, ctx.date_offset)) if shift else actions.year_dt
    elif vr == "TM":
        # Shifts are whole days, so a time stays paired with its date.
        # Reducing dates to the year drops the time of day as well.
        return UNCHANGED if shift else actions.dummy("TM")
    else:
        return REMOVE
    return map_values(elem, fn)


def _clean(elem: DataElement, decision: Decision, ctx: FileContext) -> object:
    vr = elem.VR
    if vr in ("DA", "DT", "TM"):
        return dates(elem, ctx.date_clean, ctx)
    if vr == "AS":
        return map_values(elem, actions.age_cap_90)
    if vr == "AE":
        # Device identity kept as a stable, keyed alias of the AE title.
        return map_values(elem, lambda v: ctx.pseudonymizer.token("ae", v, 16))
    if vr == "UI":
        return map_values(elem, ctx.uid)
    if vr == "PN":
        return ""
    if vr in TEXT_VRS or vr == "CS":
        return map_values(elem, lambda v: actions.clean_text(v, ctx.cleaning))
    if vr in ("DS", "IS", "FL", "FD", "SL", "SS", "UL", "US", "SV", "UV"):
        return UNCHANGED
    return REMOVE


def _pseudonym(elem: DataElement, decision: Decision, ctx: FileContext) -> object:
    keyword = keyword_for_tag(elem.tag) or ""
    pseudo = ctx.pseudonymizer

    def one(value: str) -> str:
        if keyword == "PatientName":
            # The family name component: a bare token reads as the retired
            # single-string name form.
            return ctx.patient_pseudonym + "^"
        if keyword in ("PatientID", "OtherPatientIDs"):
            return pseudo.patient_token(value.strip())
        if elem.VR == "PN":
            return "PSEUDO^" + pseudo.token("name", value, 16)
        limit = 16 if elem.VR in ("SH", "AE", "CS") else 64
        return pseudo.token("id:" + keyword, value, min(limit, 24))

    return map_values(elem, one)


def _round(elem: DataElement, decision: Decision, ctx: FileContext) -> object:
    step = float(decision.action.split(":", 1)[1])
    return map_values(elem, lambda v: actions.round_to(v, step))


def _values(fn: Callable[[str], str]) -> ActionFn:
    return lambda elem, decision, ctx: map_values(elem, fn)


_MODIFIED = "modified"
TABLE: tuple[Action, ...] = (
    Action("keep", "keep the value as it is", lambda e, d, c: UNCHANGED, "kept"),
    Action("remove", "remove the attribute", lambda e, d, c: REMOVE),
    Action("empty", "keep the attribute with an empty value", _empty),
    Action(
        "dummy",
        "replace with a non-identifying dummy of the same VR (UIDs mapped, "
        "the patient ID becomes the patient pseudonym)",
        _dummy,
    ),
    Action(
        "clean",
        "keep the value with identifying words removed (the file's own names, "
        "IDs and dates, e-mail, phone, long numbers); dates shifted or reduced "
        "to the year as the profile says, AE titles aliased",
        _clean,
        _MODIFIED,
    ),
    Action("uid", "map to a keyed 2.25 UID (registered UIDs kept)", _uid),
    Action("pseudonym", "replace with a keyed, stable pseudonym", _pseudonym),
    Action(
        "shift-date",
        "shift by the patient's keyed offset (whole days; times kept)",
        lambda e, d, c: dates(e, "shift", c),
        _MODIFIED,
    ),
    Action("year", "reduce to the year", lambda e, d, c: dates(e, "year", c), _MODIFIED),
    Action(
        "birth-year",
        "reduce a birth date to the year; removed when the age is over 89",
        lambda e, d, c: map_values(e, lambda v: actions.birth_year(v, c.reference_date)),
        _MODIFIED,
    ),
    Action("age-90", "ages over 89 written as 090Y", _values(actions.age_cap_90)),
    Action(
        "age-band-5", "ages in five-year bands (90 and over one band)", _values(actions.age_band_5)
    ),
    Action(
        "zip3",
        "keep the first three ZIP digits (000 where Safe Harbor requires)",
        _values(actions.zip3),
    ),
    Action("replace", "replace with the profile's value", lambda e, d, c: d.value),
    Action(
        "document",
        "de-identify the encapsulated document itself: a PDF re-rendered as images with "
        "identifying text redacted, a CDA cleaned; the file is withheld when it cannot be",
        lambda e, d, c: UNCHANGED,  # done by the per-file step, which can withhold
    ),
    Action("round", "round numbers to the step given (round:N)", _round),
)
ACTIONS: dict[str, Action] = {a.name: a for a in TABLE}
# Actions that take a parameter after a colon, e.g. round:5.
PARAMETRISED = frozenset({"round"})


def action_for(name: str) -> Action:
    """The table entry for an engine action name (round:5 -> round)."""
    return ACTIONS[name.split(":", 1)[0]]


def apply(elem: DataElement, decision: Decision, ctx: FileContext) -> object:
    """The element's new value, UNCHANGED or REMOVE, as the IOD allows."""
    new = action_for(decision.action).fn(elem, decision, ctx)
    return required_value(elem, decision, new, ctx) if decision.need else new
