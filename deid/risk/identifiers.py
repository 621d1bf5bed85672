"""A file's own identifying values, and the token phrases that find them in text.

Collected once per file before scrubbing: the cleaner uses them to strip a
patient's name from a series description, and the verifier uses them to
prove that none of them is left anywhere in the output. Every comparison
goes through deid.text.tokens, so a value matches however it is written
(case, accents, separators, one part of a multi-part name).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from pydicom.datadict import dictionary_VR, tag_for_keyword

from deid.actions import parse_da
from deid.text.lexicon import (  # noqa: F401 - PARTICLES, PLACEHOLDER_WORDS imported from here
    PARTICLES,
    PLACEHOLDER_WORDS,
    lexicon,
)
from deid.text.patterns import EMAIL, phones
from deid.text.terms import PhraseIndex
from deid.text.tokens import UNSPACED, words

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
# the report in coincidences (a surname "LI" is a common token). A short
# part still counts within the whole name ("LI NA", "de la Cruz").
MIN_NAME_PART = 3
MIN_ID = 3
MIN_NUMERIC_ID = 4


@dataclass(frozen=True)
class Identifier:
    kind: str  # name | id | date | address | phone | email | institution
    value: str
    where: str  # tag path it was found at in the input

    def phrases(self) -> tuple[tuple[str, ...], ...]:
        """Token sequences (see deid.text.tokens) that are this identifier."""
        return _phrases(self.kind, self.value.strip(), self.is_birth_date)

    @property
    def is_birth_date(self) -> bool:
        """A birth date is also looked for with a two-digit year ("29 09 47",
        as forms and screens print it). Other dates are not: any three small
        numbers ("3.4.5", a software version) would be 2005-04-03."""
        return self.kind == "date" and self.where.endswith("PatientBirthDate")

    def digits(self) -> tuple[str, ...]:
        """Digit strings matched however they are grouped: phone numbers and
        long numeric IDs."""
        return _digit_strings(self.kind, self.value.strip())

    def found_in(self, text: str) -> bool:
        index: PhraseIndex[Identifier] = PhraseIndex()
        _index(index, self)
        return bool(index.find(text))


def _index(index: PhraseIndex[Identifier], item: Identifier) -> None:
    for phrase in item.phrases():
        index.add(phrase, item)
    for digits in item.digits():
        index.add_digits(digits, item, with_prefix=item.kind == "phone")


def _long_enough(word: str) -> bool:
    """Latin words need three letters not to match common syllables; other
    scripts' words (Greek, Cyrillic, Arabic...) are specific at two."""
    return len(word) >= (MIN_NAME_PART if word.isascii() else 2)


def _name_word(word: str) -> bool:
    return not word.isdigit() and word not in PLACEHOLDER_WORDS and word not in PARTICLES


def _name_phrases(value: str) -> list[tuple[str, ...]]:
    """Every word of every component group (alphabetic, ideographic,
    phonetic), each component whole (`de la Cruz`, `O'Brien`), and the whole
    name in both orders (`Garcia Lopez Maria`, `Maria Garcia Lopez`)."""
    out: list[tuple[str, ...]] = []
    for group in value.split("="):
        components = [tuple(words(c)) for c in group.split("^")]
        named = [c for c in components if any(_name_word(w) for w in c)]
        for component in named:
            out += [(w,) for w in component if _name_word(w) and _long_enough(w)]
            if _initials(component):
                # Joined, initials read as a code ("M R" as "MR", "S R" as the
                # SR modality): never searched so. Spaced, they are searched
                # where they are all the name there is ("J K", "Test^S R").
                if len(named) == 1 and len(component) > 1:
                    out.append(component)
                continue
            if len(component) > 1:
                out.append(component)
                joined = "".join(component)  # OBRIEN, VANDERBERG, GARCIALOPEZ
                if not UNSPACED.search(joined):
                    out.append((joined,))
        if len(named) > 1:
            family, rest = named[0], named[1:]
            out.append(tuple(w for c in named for w in c))
            out.append(tuple(w for c in rest for w in c) + family)
    return out


def _initials(component: tuple[str, ...]) -> bool:
    """Single Latin letters only ("M R", "J. S."). Ideographic and other
    unspaced scripts are written one character a token: never initials."""
    return all(len(w) == 1 and w.isascii() for w in component)


def _address_phrases(value: str, street: bool = False) -> list[tuple[str, ...]]:
    """The whole address and each comma-separated part of five or more
    characters ("12 Windmill Lane", "La Mancha"); with `street` (a person's
    or a place's address, not an institution's name) also what is written
    of it alone (deid.risk.identifiers._street_phrases)."""
    parts = [value] + re.split(r"[,^\n\r]+", value)
    out = []
    for part in dict.fromkeys(p.strip() for p in parts):
        if len(part) >= 5:
            out.append(tuple(words(part)))
            if street:  # the whole value too: an address of one part has no other
                out += _street_phrases(tuple(words(part)))
    return out


def _street_phrases(part: tuple[str, ...]) -> list[tuple[str, ...]]:
    """A part of an address as it is written without the rest: the street
    and its number without "ul."/"Ave NW" ("Qwertzowa 17", "1600
    Pennsylvania"), and the postal code ("30-001", "20500"). A run kept "IV
    Qwertzowa 17" from "ul. Qwertzowa 17, 30-001 Krakow", and "1600
    Pennsylvania Ave" from its address with "NW". A street's or town's name
    alone is not searched: a hospital is named after its town, and a patient
    lives near it ("Washington University Medical Center", kept by option,
    lost "Washington" to a patient of "200 Washington Avenue")."""
    street_words = lexicon().street_words
    core = tuple(w for w in part if w not in street_words)
    out: list[tuple[str, ...]] = []
    named = any(w.isalpha() and len(w) >= 3 for w in core)
    numbered = any(w.isdigit() for w in core)
    if core != part and named and numbered:  # a street's name and its number
        out.append(core)
    digits = tuple(w for w in part if w.isdigit())
    if sum(map(len, digits)) >= 5 and len(digits) <= 2:
        out.append(digits)
    return out


# The files of one series, study or site share most identifying values; their
# phrases are built once per worker (the last 512 values).
@lru_cache(maxsize=512)
def _phrases(kind: str, value: str, short_years: bool = False) -> tuple[tuple[str, ...], ...]:
    if not value:
        return ()
    if kind == "name":
        found = _name_phrases(value)
    elif kind == "id":
        if len(value) < MIN_ID or (value.isdigit() and len(value) < MIN_NUMERIC_ID):
            return ()
        if len(set(value)) == 1:
            return ()  # "00000", "XXXXX": a placeholder, not anyone's number
        found = [tuple(words(value))]
    elif kind == "date":
        forms = date_forms(value, short_years)
        if short_years:  # the birth date (Identifier.is_birth_date)
            forms += more_birth_date_forms(value)
        found = [tuple(words(f)) for f in forms]
    elif kind in ("address", "institution"):
        found = _address_phrases(value, street=kind == "address")
    elif kind == "email":
        found = [tuple(words(value))]
    elif kind == "phone":
        found = []
    else:
        found = [tuple(words(value))]
    return tuple(dict.fromkeys(p for p in found if p))


@lru_cache(maxsize=512)
def _digit_strings(kind: str, value: str) -> tuple[str, ...]:
    digits = re.sub(r"\D", "", value)
    if kind == "phone" and len(digits) >= 7:
        return (digits,)
    if kind == "id" and len(digits) >= 7 and len(set(value)) > 1:
        return (digits,)
    return ()


def _day(value: str) -> date | None:
    """A DT's date, or a DA, separated or not."""
    return parse_da(value[:10]) or parse_da(value[:8])


def date_forms(value: str, short_years: bool = False) -> list[str]:
    """DA and the common ways people write the same day; with `short_years`
    also with a two-digit year (a birth date burned in as "29 09 47")."""
    parsed = _day(value)
    if parsed is None:
        return []
    y, m, d = parsed.year, parsed.month, parsed.day
    yy, month = y % 100, MONTHS[m - 1]
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
    if short_years:
        forms |= {
            f"{d:02d}/{m:02d}/{yy:02d}",
            f"{m:02d}/{d:02d}/{yy:02d}",
            f"{d:02d}.{m:02d}.{yy:02d}",
            f"{d:02d}-{m:02d}-{yy:02d}",
        }
    return sorted(forms)


_ROMAN = ("i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii")


def _ordinal(d: int) -> str:
    if d in (11, 12, 13):
        return f"{d}th"
    return f"{d}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(d % 10, 'th') }"


def more_birth_date_forms(value: str) -> list[str]:
    """The birth date as people write it beyond the common forms: its digits
    run together (14031961, 140361, 610314), with an ordinal day ("March
    14th, 1961", "14th of March 1961"), a Roman month (14.III.1961,
    1961-III-14) and the month's name in the languages dates are written in
    (14 marca 1961, 14. Maerz 1961, 14-Mar-61). Each was kept in free text
    next to the header's removed birth date. Only the birth date gets them:
    any date's would match too much of a header, and it is the one that
    stays true for life. (Separators are no part of a phrase: "14-Mar-61"
    and "14 mar 61" are one form.) Matched exactly, never fuzzily: OCR's
    near misses of six digits are any six digits."""
    parsed = _day(value)
    if parsed is None:
        return []
    y, m, d = parsed.year, parsed.month, parsed.day
    yy = y % 100
    forms = {
        f"{d:02d}{m:02d}{y:04d}", f"{m:02d}{d:02d}{y:04d}",
        f"{d:02d}{m:02d}{yy:02d}", f"{yy:02d}{m:02d}{d:02d}", f"{m:02d}{d:02d}{yy:02d}",
        f"{d} {_ROMAN[m - 1]} {y}", f"{y} {_ROMAN[m - 1]} {d}", f"{d} {_ROMAN[m - 1]} {yy:02d}",
    }  # fmt: skip
    names = {name for name, number in lexicon().months.items() if number == m}
    names |= {name[:3] for name in names}
    for name in names:
        forms |= {f"{d} {name} {y}", f"{d} {name} {yy:02d}", f"{name} {d} {y}"}
    day = _ordinal(d)
    for name in {MONTHS[m - 1], MONTHS[m - 1][:3]}:
        forms |= {f"{day} {name} {y}", f"{day} of {name} {y}", f"{name} {day} {y}"}
    return sorted(forms)


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


def kind_for(keyword: str, vr: str, by_name: bool = True) -> str | None:
    """Which kind of identifier an attribute holds, judged by VR and keyword.
    A standard attribute counts by its dictionary VR too: a PatientName a
    file writes as LO is still the patient's name (and must still be
    cleaned out of descriptions). By its keyword only where `by_name` (the
    caller's judgement of the attribute: an unlisted "...ID" the object
    keeps is a channel's or a segment's, not a person's)."""
    standard = _dictionary_vr(keyword)
    if "PN" in (vr, standard):
        return "name"
    if vr in ("DA", "DT") or standard in ("DA", "DT"):
        return "date"
    if vr == "UI" or standard == "UI" or not by_name:
        return None
    for fragment, kind in _KIND_BY_KEYWORD:
        if fragment in keyword:
            return kind
    if keyword.endswith(_ID_SUFFIXES) and vr in ("LO", "SH", "LT", "ST", "UC", "UT", "CS"):
        return "id"
    return None


@lru_cache(maxsize=4096)
def _dictionary_vr(keyword: str) -> str:
    """The standard's VR for a keyword; "" for private or unknown ones."""
    tag = tag_for_keyword(keyword) if keyword else None
    if tag is None:
        return ""
    try:
        return dictionary_VR(tag)
    except KeyError:
        return ""


@dataclass
class IdentifierSet:
    """The identifying values of one input file."""

    items: list[Identifier] = field(default_factory=list)
    _seen: set[tuple[str, str]] = field(default_factory=set)
    _terms: PhraseIndex[Identifier] | None = None

    def add(self, kind: str, value: str, where: str) -> None:
        value = value.strip()
        if not value or value.lower() in PLACEHOLDER_WORDS or (kind, value.upper()) in self._seen:
            return
        self._seen.add((kind, value.upper()))
        self.items.append(Identifier(kind, value, where))
        self._terms = None

    def add_from_text(self, text: str, where: str) -> None:
        if sum(c.isprintable() for c in text) < 0.9 * len(text):
            return  # binary data decoded as text: no e-mail or phone in it
        for m in EMAIL.finditer(text):
            self.add("email", m.group(0), where)
        for start, end in phones(text):
            self.add("phone", text[start:end], where)

    def terms(self) -> PhraseIndex[Identifier]:
        """Every identifier's phrases in one index: what cleaning removes and
        verification and scan look for (built once, until a value is added)."""
        if self._terms is None:
            self._terms = PhraseIndex()
            for item in self.items:
                _index(self._terms, item)
        return self._terms

    def cleaning_patterns(self) -> PhraseIndex[Identifier]:
        """The index `actions.clean_text` takes (the pipeline's name for it)."""
        return self.terms()

    def compiled(self) -> list[tuple[Identifier, PhraseMatcher]]:
        """Each identifier with a matcher asked like a compiled pattern
        (search, finditer): for code that searches per identifier, through
        the same tokenizer as everything else."""
        return [(item, PhraseMatcher(item)) for item in self.items]


@dataclass(frozen=True)
class PhraseMatch:
    """Where a PhraseMatcher matched, with re.Match's few methods callers use."""

    string: str
    begin: int
    stop: int

    def group(self, index: int = 0) -> str:
        return self.string[self.begin : self.stop]

    def span(self) -> tuple[int, int]:
        return self.begin, self.stop

    def start(self) -> int:
        return self.begin

    def end(self) -> int:
        return self.stop


class PhraseMatcher:
    """One identifier, matched in text through the shared tokenizer."""

    def __init__(self, item: Identifier) -> None:
        self.index: PhraseIndex[Identifier] = PhraseIndex()
        _index(self.index, item)

    def finditer(self, text: str) -> Iterator[PhraseMatch]:
        for hit in self.index.find(text):
            yield PhraseMatch(text, hit.start, hit.end)

    def search(self, text: str) -> PhraseMatch | None:
        return next(self.finditer(text), None)
