"""A file's own identifying values, and the patterns that find them in text.

Collected once per file before scrubbing: the cleaner uses them to strip a
patient's name from a series description, and the verifier uses them to
prove that none of them is left anywhere in the output.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from deid.actions import EMAIL, PHONE, parse_da

MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]

# Values shorter than these are too common to search for without drowning
# the report in coincidences (a surname "LI" is in many words).
MIN_NAME_PART = 3
MIN_ID = 3
MIN_NUMERIC_ID = 4

# Placeholder words that stand in for names in test and already-anonymised
# files, and the dummies deid itself writes: never evidence of a person.
PLACEHOLDER_WORDS = frozenset(
    [
        "anonymous",
        "anonymized",
        "anonymised",
        "anon",
        "unknown",
        "name",
        "names",
        "last",
        "first",
        "middle",
        "test",
        "patient",
        "doctor",
        "physician",
        "none",
        "null",
        "phantom",
        "enter",
        "text",
        "deid",
        "removed",
        "pseudo",
        "dummy",
        "mr",
        "mrs",
        "ms",
        "dr",
    ]
)


@dataclass(frozen=True)
class Identifier:
    kind: str  # name | id | date | address | phone | email | institution
    value: str
    where: str  # tag path it was found at in the input

    def patterns(self) -> list[re.Pattern[str]]:
        return list(_patterns(self.kind, self.value))

    def literals(self) -> list[str]:
        """Lower-case strings at least one of which is in any text the
        patterns match: a cheap test that rules a clean output in."""
        if not self.patterns():
            return []
        value = self.value.strip().lower()
        if self.kind == "name":
            return [p.lower() for p in _name_parts(self.value)]
        if self.kind == "date":
            return [f.lower() for f in date_forms(self.value)]
        if self.kind == "phone":
            digits = re.sub(r"\D", "", value)
            return [digits[:3]]  # any spelling of the number starts with these
        if self.kind in ("address", "institution"):
            return [re.split(r"\s+", value)[0]]
        return [value]


def _bounded(literal: str) -> re.Pattern[str]:
    """A literal that is not part of a longer word, number or dotted UID."""
    return re.compile(rf"(?<![\w.]){re.escape(literal)}(?![\w])", re.IGNORECASE)


def _name_parts(value: str) -> list[str]:
    """Words of every component group (alphabetic, ideographic, phonetic).

    Ideographic names are often two characters, which are specific enough;
    Latin words need three to avoid matching common syllables.
    """
    parts = []
    for group in value.split("="):
        for component in re.split(r"[\^,]", group):
            for word in component.split():
                word = word.strip(".")
                shortest = MIN_NAME_PART if word.isascii() else 2
                if (
                    len(word) >= shortest
                    and word.isalpha()
                    and word.lower() not in PLACEHOLDER_WORDS
                ):
                    parts.append(word)
    return parts


def date_forms(value: str) -> list[str]:
    """DA and the common ways people write the same day."""
    parsed = parse_da(value[:8])
    if parsed is None:
        return []
    y, m, d = parsed.year, parsed.month, parsed.day
    month = MONTHS[m - 1]
    forms = {
        f"{y:04d}{m:02d}{d:02d}",
        f"{y:04d}-{m:02d}-{d:02d}",
        f"{y:04d}/{m:02d}/{d:02d}",
        f"{y:04d}.{m:02d}.{d:02d}",
        f"{d:02d}/{m:02d}/{y:04d}",
        f"{m:02d}/{d:02d}/{y:04d}",
        f"{d:02d}.{m:02d}.{y:04d}",
        f"{d:02d}-{m:02d}-{y:04d}",
        f"{m:02d}-{d:02d}-{y:04d}",
        f"{d}/{m}/{y}",
        f"{m}/{d}/{y}",
        f"{d} {month} {y}",
        f"{d} {month[:3]} {y}",
        f"{month} {d}, {y}",
        f"{month[:3]} {d}, {y}",
        f"{month} {d} {y}",
        f"{d:02d}-{month[:3]}-{y:04d}",
    }
    return sorted(forms)


# The files of one series, study or site share most identifying values; their
# patterns are built once per worker (the last 512 values: ~2 MB at most).
@lru_cache(maxsize=512)
def _patterns(kind: str, value: str) -> tuple[re.Pattern[str], ...]:
    return tuple(_build_patterns(kind, value))


def _build_patterns(kind: str, value: str) -> list[re.Pattern[str]]:
    value = value.strip()
    if not value:
        return []
    if kind == "name":
        # Scripts written without spaces (CJK) have no word boundaries.
        return [
            _bounded(p) if p.isascii() else re.compile(re.escape(p)) for p in _name_parts(value)
        ]
    if kind == "id":
        if len(value) < MIN_ID or (value.isdigit() and len(value) < MIN_NUMERIC_ID):
            return []
        return [_bounded(value)]
    if kind == "date":
        return [
            re.compile(rf"(?<![\d]){re.escape(f)}(?!\d)", re.IGNORECASE) for f in date_forms(value)
        ]
    if kind == "phone":
        digits = re.sub(r"\D", "", value)
        if len(digits) < 7:
            return []
        return [re.compile(r"(?<!\d)" + r"\D{0,3}".join(digits) + r"(?!\d)")]
    if kind in ("address", "institution"):
        parts = [value] + [p for p in re.split(r"[,^\n\r]+", value)]
        out = []
        for part in dict.fromkeys(p.strip() for p in parts):
            if len(part) >= 5:
                words = [re.escape(w) for w in part.split()]
                out.append(re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.I))
        return out
    if kind == "email":
        return [re.compile(re.escape(value), re.IGNORECASE)]
    return [_bounded(value)]


# Keyword fragments that mark an attribute as holding one kind of identifier.
_KIND_BY_KEYWORD = (
    ("Address", "address"),
    ("Telephone", "phone"),
    ("Telecom", "phone"),
    ("InstitutionName", "institution"),
    ("InstitutionalDepartmentName", "institution"),
    ("StationName", "id"),
)
_ID_SUFFIXES = ("ID", "IDs", "Number", "Numbers", "Identifier", "Locator")


def kind_for(keyword: str, vr: str) -> str | None:
    """Which kind of identifier an attribute holds, judged by VR and keyword."""
    if vr == "PN":
        return "name"
    if vr in ("DA", "DT"):
        return "date"
    if vr == "UI":
        return None
    for fragment, kind in _KIND_BY_KEYWORD:
        if fragment in keyword:
            return kind
    if keyword.endswith(_ID_SUFFIXES) and vr in ("LO", "SH", "LT", "ST", "UC", "UT", "CS"):
        return "id"
    return None


@dataclass
class IdentifierSet:
    """The identifying values of one input file."""

    items: list[Identifier] = field(default_factory=list)
    _seen: set[tuple[str, str]] = field(default_factory=set)

    def add(self, kind: str, value: str, where: str) -> None:
        value = value.strip()
        if not value or value.lower() in PLACEHOLDER_WORDS or (kind, value.upper()) in self._seen:
            return
        self._seen.add((kind, value.upper()))
        self.items.append(Identifier(kind, value, where))

    def add_from_text(self, text: str, where: str) -> None:
        if sum(c.isprintable() for c in text) < 0.9 * len(text):
            return  # binary data decoded as text: no e-mail or phone in it
        for m in EMAIL.finditer(text):
            self.add("email", m.group(0), where)
        for m in PHONE.finditer(text):
            if len(re.sub(r"\D", "", m.group(0))) >= 7:
                self.add("phone", m.group(0), where)

    def compiled(self) -> list[tuple[Identifier, re.Pattern[str]]]:
        return [(item, p) for item in self.items for p in item.patterns()]

    def literals(self) -> list[str]:
        return sorted({lit for item in self.items for lit in item.literals() if lit})

    def cleaning_patterns(self) -> list[re.Pattern[str]]:
        return [p for _, p in self.compiled()]
