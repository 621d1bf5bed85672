"""Repairing a verified output: a kept value that still holds the file's own
identifier is cleaned, rather than the whole file withheld.

Verification finds what the profile's decisions let through: an institution
name inside a kept Manufacturer ("TOSHIBA" in "TOSHIBA_MEC"), a phantom's
name that is also a defined term. When every leak sits in an element the
profile kept, those elements are cleaned like any cleaned text and the file
is verified again. A leak in a required (Type 1) code, or in required text
that cleaning would empty, cannot be repaired: the file stays withheld.
"""

from __future__ import annotations

import re

from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from deid.actions import clean_text
from deid.risk.findings import Finding, Severity
from deid.standard import REQUIRED, IodTypes
from deid.text.terms import PhraseIndex

_PART = re.compile(r"^(?P<name>[A-Za-z0-9]+|\([0-9A-Fa-f]{4},[0-9A-Fa-f]{4}\))(?:\[(?P<i>\d+)\])?$")
REPAIRABLE_VRS = frozenset({"LO", "SH", "LT", "ST", "UT", "UC", "CS"})


def locate(ds: Dataset, location: str) -> tuple[DataElement, tuple[int, ...]] | None:
    """The element a finding's location names, and its enclosing sequences."""
    parts = location.split(".")
    parents: list[int] = []
    current = ds
    for n, part in enumerate(parts):
        m = _PART.match(part)
        if m is None:
            return None
        tag = _tag(m.group("name"))
        if tag is None or tag not in current:
            return None
        elem = current[tag]
        if n == len(parts) - 1:
            return elem, tuple(parents)
        if elem.VR != "SQ" or m.group("i") is None:
            return None
        index = int(m.group("i"))
        if index >= len(elem.value):
            return None
        parents.append(tag)
        current = elem.value[index]
    return None


def _tag(name: str) -> int | None:
    if name.startswith("("):
        return int(name[1:5] + name[6:10], 16)
    return tag_for_keyword(name)


def repair(
    ds: Dataset,
    leaks: list[Finding],
    terms: PhraseIndex | None,
    iod: IodTypes | None,
    label: str,
) -> list[Finding] | None:
    """Clean each leaking element; the notes to report, or None when a leak
    cannot be repaired (the caller withholds the file)."""
    notes = []
    for leak in leaks:
        found = None if leak.location.startswith("FileMeta.") else locate(ds, leak.location)
        if found is None or found[0].VR not in REPAIRABLE_VRS:
            return None
        elem, parents = found
        cleaned = _clean(elem.value, terms)
        required = iod is not None and iod.type_at(parents, int(elem.tag)) in REQUIRED
        if required and (elem.VR == "CS" or not any(_values(cleaned))):
            return None  # a required code would lose its meaning; required text its value
        if elem.VR == "CS":
            # A code is kept only with values left whole: an emptied code would
            # change what the object says (conditions hang on body part, laterality).
            cleaned = [v for v in _values(cleaned) if v]
            if not cleaned:
                return None
            cleaned = cleaned if len(cleaned) > 1 else cleaned[0]
        elem.value = cleaned
        notes.append(
            Finding(
                "verify.repaired", Severity.INFO,
                f"{leak.message.replace(' still present in output', '')} in a kept attribute: "
                "the attribute was cleaned",
                file=label, location=leak.location, action="cleaned",
            )
        )
    return notes


def _values(value: object) -> list:
    return list(value) if isinstance(value, list) else [value]


def _clean(value: object, terms: PhraseIndex | None) -> object:
    if isinstance(value, MultiValue | list | tuple):
        return [clean_text(str(v), terms) for v in value]
    return clean_text(str(value), terms)
