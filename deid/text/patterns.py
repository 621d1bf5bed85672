"""Dates, phone numbers, e-mail addresses and long numbers in free text,
with the precision rules that keep technical strings out.

Version strings (`5.00.02`, `2.6.3.6`), UIDs, kernel and coil names and
measurement read-outs are full of digit groups. A date needs a plausible
calendar date written in a date-like pattern (one separator used twice, a
month name, or eight digits); a phone number needs phone-like grouping (not
a dotted version, not one digit groups); neither may be one part of a longer
dotted number or glued to letters.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

from deid.text.lexicon import lexicon
from deid.text.tokens import dotted_after, dotted_before, fold

Span = tuple[int, int]

class _Email:
    """E-mail addresses, found as `[\\w.+-]+@[\\w-]+(?:\\.[\\w-]+)+` finds them,
    in time linear in the text. That pattern alone, searched, tries every
    position of a long word, and each try runs to the word's end: one
    100 kB word in a text value took a minute, 100 MB never finished. Here a
    match may start only where no local-part character precedes it, or
    right where the last match ended (an address glued to the one before,
    "a@b.c+x@d.e", which the plain pattern also finds)."""

    _anchored = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
    _starts = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")

    def finditer(self, text: str) -> Iterator[re.Match[str]]:
        pos = 0
        while pos < len(text):
            glued = pos > 0 and self._anchored.match(text, pos)  # after a match: its end
            found = glued or self._starts.search(text, pos)
            if not found:
                return
            yield found
            pos = found.end()

    def search(self, text: str) -> re.Match[str] | None:
        return next(self.finditer(text), None)


EMAIL = _Email()
_YEARS = range(1880, 2101)
# One separator used twice: 12/03/2021, 2021-03-12, 12.03.2021.
_NUMERIC_DATE = re.compile(r"(?<![\w.])(\d{1,4})([-/.])(\d{1,2})\2(\d{1,4})(?!\w)")
_COMPACT_DATE = re.compile(r"(?<![\w.])((?:18|19|20)\d{2})(\d{2})(\d{2})(?![\w])")
_WORD = r"[^\W\d_]{3,}"
# 12 March 2021, 12. März 2021, 12-MAR-2021, 12MAR2021, 1st of May 2021,
# 12 de marzo de 2021; and March 12, 2021; March 2021; 12 March.
_DAY_MONTH = re.compile(
    rf"(?<![\w.])(\d{{1,2}})(?:st|nd|rd|th|er|e)?\.?[ -]?(?:of |de )?({_WORD})\.?,?"
    rf"(?:[ -]?(?:de )?(\d{{4}}|\d{{2}}(?!\d)))?(?![\w])",
    re.IGNORECASE,
)
_MONTH_DAY = re.compile(
    rf"(?<![\w])({_WORD})\.? (\d{{1,2}})(?:st|nd|rd|th)?(?:,? (\d{{4}}))?(?![\w])", re.IGNORECASE
)
_MONTH_YEAR = re.compile(rf"(?<![\w])({_WORD})\.?,? (\d{{4}})(?![\w])", re.IGNORECASE)
_PHONE = re.compile(r"(?<![\w.+])(?:\+|\(|00)?\d[\d ()./-]{5,22}\d(?![\w])")
LONG_NUMBER = re.compile(r"(?<![^\W_])\d{6,}(?![^\W_])")


def _month(word: str, full_only: bool = False) -> int | None:
    """A month's number from its name or (unless full_only) the name's first
    three or four letters ("Mar", "Sept", "Dez")."""
    months = lexicon().months
    word = fold(word).rstrip(".")
    if word in months:
        return months[word]
    if full_only or len(word) not in (3, 4):
        return None
    found = {n for name, n in months.items() if name.startswith(word)}
    return found.pop() if len(found) == 1 else min(found) if found else None


def _valid(year: int | None, month: int, day: int | None) -> bool:
    if year is not None and year >= 100 and year not in _YEARS:
        return False
    try:
        date(year if year is not None and year >= 100 else 2000, month, day or 1)
    except ValueError:
        return False
    return True


def _numeric_date(a: str, sep: str, b: str, c: str) -> bool:
    """Which readings of a-b-c are a calendar date: Y-M-D, D-M-Y or M-D-Y."""
    if len(a) == 4:
        return len(c) <= 2 and _valid(int(a), int(b), int(c))
    if len(a) > 2 or len(c) not in (2, 4):
        return False
    if sep == "." and len(c) == 2 and (len(a) < 2 or len(b) < 2):
        return False  # 1.2.16 is a version; 01.02.16 a date
    year = int(c)
    return _valid(year, int(b), int(a)) or _valid(year, int(a), int(b))


def dates(text: str) -> Iterator[Span]:
    for m in _NUMERIC_DATE.finditer(text):
        if not dotted_after(text, m.end()) and _numeric_date(*m.groups()):
            yield m.span()
    for m in _COMPACT_DATE.finditer(text):
        y, mo, d = (int(g) for g in m.groups())
        if _valid(y, mo, d):
            yield m.span()
    yield from _written_dates(text)


def _written_dates(text: str) -> Iterator[Span]:
    for m in _DAY_MONTH.finditer(text):
        day, word, year = m.group(1), m.group(2), m.group(3)
        month = _month(word, full_only=year is None)
        if month and _valid(int(year) if year else None, month, int(day)):
            yield m.span()
    for m in _MONTH_DAY.finditer(text):
        word, day, year = m.groups()
        month = _month(word, full_only=year is None)
        if (
            month
            and _capitalised_may(word)
            and _valid(int(year) if year else None, month, int(day))
        ):
            yield m.span()
    for m in _MONTH_YEAR.finditer(text):
        word, year = m.groups()
        month = _month(word, full_only=True)
        if month and _capitalised_may(word) and int(year) in _YEARS:
            yield m.span()


def _capitalised_may(word: str) -> bool:
    """'may 2021' is more often a verb than a month; 'May 2021' a month."""
    return fold(word) != "may" or word[0].isupper()


def phones(text: str) -> Iterator[Span]:
    for m in _PHONE.finditer(text):
        start, end = m.span()
        raw = m.group()
        if raw.endswith(")"):
            continue
        if dotted_before(text, start) or dotted_after(text, end):
            continue
        if _phone_like(raw):
            yield start, end


def _phone_like(raw: str) -> bool:
    groups = re.findall(r"\d+", raw)
    digits = sum(len(g) for g in groups)
    if not 7 <= digits <= 15 or len(groups) < 2 or len(groups) > 6:
        return False
    seps = set(re.sub(r"[\d()+ ]", "", raw))
    if "/" in seps or len(seps) > 1:
        return False  # 12/03, 400/40: fractions and windows, not phones
    international = raw.startswith(("+", "00"))
    body = groups[1:] if international or (len(groups[0]) == 1 and len(groups) > 3) else groups
    if international and len(body) > 3 and len(body[0]) == 1:
        body = body[1:]  # +33 1 45 54 10 99: an area code of one digit
    if any(len(g) < 2 for g in body):
        return False  # 2.6.3.6, 1 2 3: versions and lists
    if seps == {"."}:
        # Dotted groups are versions (51.80.108.010) unless grouped as phones.
        sizes = [len(g) for g in body]
        return international or sizes in ([3, 3, 4], [2, 2, 2, 2, 2])
    if not seps and "(" not in raw and not international:
        # Digit groups with spaces only: national formats (0xx, 3-3-4).
        return groups[0].startswith("0") or [len(g) for g in groups] == [3, 3, 4]
    return True


def emails(text: str) -> Iterator[Span]:
    for m in EMAIL.finditer(text):
        yield m.span()


def long_numbers(text: str) -> Iterator[Span]:
    """Six or more digits that are not part of a dotted number (a UID)."""
    for m in LONG_NUMBER.finditer(text):
        if not dotted_before(text, m.start()) and not dotted_after(text, m.end()):
            yield m.span()
