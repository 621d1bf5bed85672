"""Quasi-identifiers: which names are known, and how values are compared.

Checked once when the settings are built: a name that is neither a DICOM
keyword nor one of the derived names is refused (it would be absent from
every file and make every patient look alike: k = the whole data set).
Numbers are compared as numbers (`70`, `70.0` and `70.00` kg are one
weight), and an attribute the profile rounds (`round:N`) is rounded the same
way first: that is the value the profile releases.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from pydicom.datadict import dictionary_VR, tag_for_keyword

from deid.actions import round_to
from deid.errors import UsageError
from deid.profiles import ResolvedProfile

# Names computed from several attributes (see deid.scan for how).
DERIVED = {
    "PatientAge": "age in whole years, from PatientAge or birth and study date",
    "BirthYear": "year of PatientBirthDate",
    "StudyYearMonth": "year and month of StudyDate",
    "Device": "manufacturer, model, station name and serial number, as one tuple",
    "ZIP": "the 5-digit ZIP code in PatientAddress",
}
# A US ZIP code (ZIP+4 allowed) inside an address, as deid.actions.zip3 reads it.
ZIP_CODE = re.compile(r"(?<!\d)(\d{5})(?:-\d{4})?(?!\d)")
NUMERIC_VRS = frozenset({"DS", "IS", "FL", "FD", "SS", "US", "SL", "UL", "SV", "UV"})


@dataclass(frozen=True)
class QuasiIdentifier:
    name: str
    tag: int | None  # None for derived names
    vr: str  # "" for derived names
    round_step: float | None = None  # the profile's round:N

    @property
    def numeric(self) -> bool:
        return self.vr in NUMERIC_VRS

    def normalise(self, text: str) -> str:
        """One value part as it is compared: numbers in one canonical form,
        rounded first where the profile rounds the attribute."""
        text = text.strip()
        if not self.numeric or not text:
            return text
        if self.round_step is not None:
            text = round_to(text, self.round_step) or text
        return canonical_number(text)


def canonical_number(text: str) -> str:
    """`70`, `70.0`, `+70.00` and `7e1` all read `70`; text that is not a
    number is kept as it is (it is still a value an attacker sees)."""
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        return text.strip()
    if not number.is_finite() or abs(number.adjusted()) > 30:
        return text.strip()  # a 16-character DS can say 1e99999999999: not expanded
    number = number.normalize() if number != 0 else Decimal(0)
    return format(number, "f")


def plan(
    names: tuple[str, ...], profile: ResolvedProfile, flag: str
) -> tuple[QuasiIdentifier, ...]:
    """Validate `names` (`flag` says where they came from, for the message)."""
    planned = []
    for name in names:
        if name in DERIVED:
            planned.append(QuasiIdentifier(name, None, ""))
            continue
        tag = tag_for_keyword(name)
        if tag is None:
            raise UsageError(
                f"{flag} {name}: not a DICOM keyword nor a derived name "
                f"({', '.join(sorted(DERIVED))})"
            )
        vr = dictionary_VR(tag)
        if vr == "SQ":
            raise UsageError(f"{flag} {name}: a sequence cannot be a quasi-identifier")
        decision = profile.rule_for(tag)
        step = None
        if decision is not None and decision.action.startswith("round:"):
            step = float(decision.action.removeprefix("round:"))
        planned.append(QuasiIdentifier(name, tag, vr, step))
    return tuple(planned)
