"""Value transformations: pure functions of a value (and a key or offset).

Nothing here knows about data sets, profiles or HIPAA; `scrub` decides which
function applies to which element. Keeping them pure makes them easy to test
one by one and safe to run in any worker process.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from deid.text import find
from deid.text.patterns import EMAIL, LONG_NUMBER  # noqa: F401 - the free-text patterns' home

if TYPE_CHECKING:
    from deid.risk.identifiers import Identifier
    from deid.text.terms import PhraseIndex

# Text-bearing VRs: the ones where free text (and so stray PHI) can live.
TEXT_VRS = frozenset({"LO", "SH", "LT", "ST", "UT", "UC", "PN", "AE", "UR"})
DATE_VRS = frozenset({"DA", "DT", "TM"})
NUMERIC_TEXT_VRS = frozenset({"DS", "IS"})
BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})

# Dummy values: valid for the VR, non-identifying, and obviously fake.
DUMMY_BY_VR: dict[str, object] = {
    "AE": "ANONYMOUS",
    "AS": "000Y",
    "CS": "ANONYMOUS",
    "DA": "19000101",
    "DT": "19000101000000.000000",
    "TM": "000000.00",
    "DS": "0",
    "IS": "0",
    "LO": "ANONYMOUS",
    "LT": "ANONYMOUS",
    "PN": "ANONYMOUS^ANONYMOUS",
    "SH": "ANONYMOUS",
    "ST": "ANONYMOUS",
    "UC": "ANONYMOUS",
    "UT": "ANONYMOUS",
    "UR": "",
    "FL": 0.0,
    "FD": 0.0,
    "SL": 0,
    "SS": 0,
    "UL": 0,
    "US": 0,
    "SV": 0,
    "UV": 0,
    "AT": 0,
}


def dummy(vr: str) -> object:
    """A replacement value. Binary VRs get eight zero bytes: non-empty, as D
    requires, and a whole number of values for every binary VR."""
    if vr in DUMMY_BY_VR:
        return DUMMY_BY_VR[vr]
    return b"\x00" * 8


# --------------------------------------------------------------------------
# Dates

# YYYYMMDD; also YYYY.MM.DD (ACR-NEMA, still in old files) and YYYY-MM-DD
# (seen in non-conformant ones), one separator throughout: a study dated the
# second way lost its date while its series, dated the first, was shifted.
_DA = re.compile(r"^(\d{4})([.-]?)(\d{2})\2(\d{2})$")


def parse_da(value: str) -> date | None:
    m = _DA.match(value.strip())
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(3)), int(m.group(4)))
    except ValueError:
        return None


def da(day: date) -> str:
    """A DA value: eight digits (strftime writes year 990 as three)."""
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def shift_da(value: str, days: int) -> str:
    """Shift a DA value; an unparseable date becomes the dummy (never kept)."""
    parsed = parse_da(value)
    if parsed is None:
        return "" if not value.strip() else str(DUMMY_BY_VR["DA"])
    try:
        return da(parsed + timedelta(days=days))
    except OverflowError:
        return str(DUMMY_BY_VR["DA"])


# A DT of year or year-month precision (PS3.5 6.2), with an offset or not.
_PARTIAL_DT = re.compile(r"^(\d{4})(\d{2})?([+-]\d{4})?$")


def shift_dt(value: str, days: int) -> str:
    """Shift the date part of a DT value, keeping time and offset as written.
    A year or year-month is shifted at its own precision: kept, its real
    year beside shifted dates gave away the patient's offset. A value of
    no DT form becomes the dummy, never kept unshifted."""
    value = value.strip()
    if not value:
        return ""
    partial = _PARTIAL_DT.match(value)
    if partial:
        return _shift_partial_dt(partial, days)
    if len(value) < 8 or not value[:8].isdigit():
        return str(DUMMY_BY_VR["DT"])
    shifted = shift_da(value[:8], days)
    return shifted + value[8:]


def _shift_partial_dt(partial: re.Match[str], days: int) -> str:
    """The middle of the year or month, shifted, written as precisely as
    the value was."""
    year, month, zone = partial.group(1), partial.group(2), partial.group(3) or ""
    try:
        middle = date(int(year), int(month), 15) if month else date(int(year), 7, 2)
        moved = middle + timedelta(days=days)
    except (ValueError, OverflowError):
        return str(DUMMY_BY_VR["DT"])
    written = f"{moved.year:04d}{moved.month:02d}" if month else f"{moved.year:04d}"
    return written + zone


def year_da(value: str) -> str:
    """Reduce a date to its year (DA must stay a full date: YYYY0101)."""
    parsed = parse_da(value)
    if parsed is None:
        return "" if not value.strip() else str(DUMMY_BY_VR["DA"])
    return f"{parsed.year:04d}0101"


def year_dt(value: str) -> str:
    value = value.strip()
    if len(value) >= 4 and value[:4].isdigit():
        return value[:4]
    return ""


def birth_year(value: str, reference: date) -> str:
    """HIPAA: birth date to year, removed when the year implies age over 89."""
    parsed = parse_da(value)
    if parsed is None:
        return ""
    if reference.year - parsed.year > 89:
        return ""
    return f"{parsed.year:04d}0101"


# --------------------------------------------------------------------------
# Ages, sizes, places

_AS = re.compile(r"^(\d{3})([DWMY])$")


# Days in each unit of an age string, for its whole years: an age written in
# months was banded as 0 (999M, 83 years, became 000Y).
_UNIT_DAYS = {"D": 1, "W": 7, "M": 365.25 / 12, "Y": 365.25}


def _age_years(value: str) -> int | None:
    m = _AS.match(value.strip())
    if not m:
        return None
    count, unit = int(m.group(1)), m.group(2)
    return count if unit == "Y" else int(count * _UNIT_DAYS[unit] // _UNIT_DAYS["Y"])


def age_cap_90(value: str) -> str:
    """HIPAA: ages over 89 are one category, written as 090Y."""
    years = _age_years(value)
    if years is None:
        return ""
    return "090Y" if years > 89 else value.strip()


def age_band_5(value: str) -> str:
    """Five-year bands written as their lower bound; 90 and over is one band."""
    years = _age_years(value)
    if years is None:
        return ""
    if years >= 90:
        return "090Y"
    return f"{years - years % 5:03d}Y"


def round_to(value: object, step: float) -> str:
    """The value to the nearest `step`; "" where it is no finite number (a
    weight of NaN failed the file in a message naming no attribute)."""
    try:
        number = float(str(value))
    except ValueError:
        return ""
    if not math.isfinite(number):
        return ""
    rounded = round(number / step) * step
    text = f"{rounded:.6f}".rstrip("0").rstrip(".")
    return text[:16]


# Three-digit ZIP areas with 20,000 or fewer people (2000 census), which HIPAA
# Safe Harbor requires to be written as 000 (45 CFR 164.514(b)(2)(i)(B)).
RESTRICTED_ZIP3 = frozenset(
    [
        "036",
        "059",
        "063",
        "102",
        "203",
        "556",
        "692",
        "790",
        "821",
        "823",
        "830",
        "831",
        "878",
        "879",
        "884",
        "890",
        "893",
    ]
)
_ZIP = re.compile(r"(?<!\d)(\d{5})(?:-\d{4})?(?!\d)")


def zip_code(address: str) -> str:
    """The five-digit ZIP of a US address: the last five-digit number, never
    the first word of a longer address (a house number, which Safe Harbor
    removes with the street); "" where there is none."""
    whole = address.strip()
    found = [m for m in _ZIP.finditer(whole) if m.start() or m.group(0) == whole]
    return found[-1].group(1) if found else ""


def zip3(value: str) -> str:
    """Keep only the first three ZIP digits where Safe Harbor allows it."""
    prefix = zip_code(value)[:3]
    return "000" if prefix in RESTRICTED_ZIP3 else prefix


# --------------------------------------------------------------------------
# Free text

def clean_text(value: str, terms: PhraseIndex[Identifier] | None = None) -> str:
    """Remove the file's own identifiers and every identifying word the free
    text detectors find (names, dates, phone numbers, e-mail addresses, long
    numbers); a text with none of them is returned unchanged.

    Descriptions keep their clinical words ("CT HEAD W/O CONTRAST"). What is
    removed is exactly what `deid scan` reports (deid.text.find.spans).
    """
    return find.remove(value, find.spans(value, terms))


def parse_date_loose(value: str) -> date | None:
    parsed = parse_da(value)
    if parsed:
        return parsed
    try:
        return datetime.strptime(value.strip()[:8], "%Y%m%d").date()
    except ValueError:
        return None
