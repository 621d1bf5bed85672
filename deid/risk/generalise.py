"""Generalisations a data manager can apply to one quasi-identifier.

Each is a rule on one value (a tuple of parts) that the advice tries on the
data set's classes: age and birth-year bands, dates to month or year,
heights and weights rounded, ZIP codes to their first three digits, a device
named by manufacturer (and model) only, and, for every attribute, removal.
They are listed least lossy first; the ones that map onto a shipped profile
action say so in their phrase (the same functions where deid has them).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from deid.actions import round_to, zip3
from deid.risk.kanon import Value, Values
from deid.risk.quasi import ZIP_CODE, canonical_number


@dataclass(frozen=True)
class Generalisation:
    attribute: str
    phrase: str  # what a person would do: "generalise PatientAge to 5-year bands"
    part: Callable[[Value], Value] | None  # one value -> its generalised value; None removes

    @property
    def removes(self) -> bool:
        return self.part is None

    def apply(self, values: Values) -> Values:
        """A patient's values after the generalisation: mapped, merged, sorted."""
        if self.part is None:
            return ()
        return tuple(sorted({mapped for value in values if (mapped := self.part(value))}))


def _whole(value: Value) -> int | None:
    try:
        return int(value[0])
    except (ValueError, IndexError):
        return None


def _band(width: int) -> Callable[[Value], Value]:
    def band(value: Value) -> Value:
        number = _whole(value)
        if number is None:
            return value
        low = number - number % width
        return (f"{low}-{low + width - 1}",)

    return band


def _top_code(value: Value) -> Value:
    number = _whole(value)
    return ("90+",) if number is not None and number >= 90 else value


def _prefix(length: int) -> Callable[[Value], Value]:
    return lambda value: (value[0][:length],)


def _round(step: float) -> Callable[[Value], Value]:
    """As the profiles' round:N action does it."""

    def rounded(value: Value) -> Value:
        text = round_to(value[0], step) if value else ""
        return (canonical_number(text),) if text else value

    return rounded


def _zip3(value: Value) -> Value:
    found = ZIP_CODE.search(value[0])
    return (zip3(found.group(0)),) if found else ()


def _parts(count: int) -> Callable[[Value], Value]:
    return lambda value: tuple(value[:count])


# Per derived name or keyword: (phrase, rule), least lossy first.
_NAMED: dict[str, list[tuple[str, Callable[[Value], Value]]]] = {
    "PatientAge": [
        ("group PatientAge 90 and over (HIPAA)", _top_code),
        ("generalise PatientAge to 5-year bands", _band(5)),
        ("generalise PatientAge to 10-year bands", _band(10)),
    ],
    "BirthYear": [
        ("generalise BirthYear to 5-year bands", _band(5)),
        ("generalise BirthYear to 10-year bands", _band(10)),
    ],
    "StudyYearMonth": [("reduce StudyYearMonth to the year", _prefix(4))],
    "PatientSize": [
        ("round PatientSize to 5 cm", _round(0.05)),
        ("round PatientSize to 10 cm", _round(0.1)),
    ],
    "PatientWeight": [
        ("round PatientWeight to 5 kg", _round(5)),
        ("round PatientWeight to 10 kg", _round(10)),
    ],
    "Device": [
        ("reduce Device to manufacturer and model", _parts(2)),
        ("reduce Device to the manufacturer", _parts(1)),
    ],
    "ZIP": [("reduce ZIP to its first 3 digits (ZIP3)", _zip3)],
}


def candidates(attribute: str, vr: str = "", rare: bool = False) -> list[Generalisation]:
    """The generalisations worth trying for one attribute, least lossy first
    (removal is not among them: see `removal`). Free-text descriptions that
    count only when rare have none: they are removed or not."""
    if rare:
        return []
    rules = _NAMED.get(attribute)
    if rules is None and vr == "DA":
        rules = [
            (f"reduce {attribute} to year and month", _prefix(6)),
            (f"reduce {attribute} to the year", _prefix(4)),
        ]
    if rules is None and attribute.endswith("Address"):
        rules = [(f"reduce {attribute} to its ZIP3", _zip3)]
    return [Generalisation(attribute, phrase, rule) for phrase, rule in rules or []]


def removal(attribute: str) -> Generalisation:
    return Generalisation(attribute, f"remove {attribute}", None)
