"""Street addresses in free text: a street-type word ("Road", "rue",
"-straße") or an address cue ("lives at", "address") next to a house number
and capitalised words, extended over the city and postal code after it.

A number and a capitalised word are not an address on their own ("Field 1",
"LightSpeed 16"): the street type or the cue is what makes them one.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from functools import lru_cache

from deid.text.lexicon import lexicon
from deid.text.tokens import Token, tokenize

Span = tuple[int, int]

# Street types of the languages addresses are commonly written in (rules,
# like the titles of deid.text.names).
STREET_TYPES = frozenset(
    [
        "street",
        "st",
        "road",
        "rd",
        "avenue",
        "ave",
        "av",
        "lane",
        "ln",
        "drive",
        "boulevard",
        "blvd",
        "way",
        "court",
        "ct",
        "place",
        "pl",
        "terrace",
        "close",
        "crescent",
        "square",
        "sq",
        "highway",
        "hwy",
        "parkway",
        "pkwy",
        "circle",
        "trail",
        "row",
        "walk",
        "crossing",
        "mews",
        "gardens",
        "grove",
        "alley",
        "plaza",
        "pike",
        "rue",
        "cours",
        "voie",
        "allee",
        "allée",
        "chemin",
        "impasse",
        "quai",
        "calle",
        "avenida",
        "paseo",
        "plaza",
        "rua",
        "rúa",
        "praça",
        "travessa",
        "via",
        "viale",
        "piazza",
        "corso",
        "vicolo",
        "largo",
        "strasse",
        "straße",
        "str",
        "weg",
        "gasse",
        "platz",
        "allee",
        "ring",
        "damm",
        "ufer",
        "straat",
        "laan",
        "gracht",
        "plein",
        "kade",
        "ulica",
        "ul",
        "al",
        "aleja",
        "plac",
        "osiedle",
        "vej",
        "gatan",
        "gata",
        "katu",
        "tie",
        "utca",
        "ulitsa",
    ]
)
_COMPOUND = re.compile(
    r"(?:straße|strasse|str|weg|gasse|platz|allee|straat|laan|gracht|vej|gatan|gata|katu|tie)$"
)
CUES = ("lives at", "living at", "resides at", "residing at", "address", "addr", "home at")
_CUE = re.compile(r"\b(?:" + "|".join(CUES) + r")\b\s*:?\s*", re.IGNORECASE)
_POSTCODE = re.compile(
    r"[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}|\d{4,5}(?:-\d{3,4})?|\d{2}-\d{3}|\d{4}\s?[A-Z]{2}"
)
_CONNECTORS = frozenset(
    [
        "de",
        "du",
        "des",
        "la",
        "le",
        "les",
        "los",
        "las",
        "del",
        "della",
        "degli",
        "di",
        "da",
        "do",
        "dos",
        "das",
        "van",
        "der",
        "den",
        "von",
        "am",
        "an",
        "im",
        "bei",
        "sur",
        "sous",
        "upon",
        "on",
        "aan",
        "en",
        "y",
    ]
)
_CLAUSE_END = re.compile(r"[;()\[\]]|\.\s|\s-\s|\n")
_MAX_TOKENS = 14


def find(text: str) -> list[Span]:
    return list(_find(text))


@lru_cache(maxsize=8192)
def _find(text: str) -> tuple[Span, ...]:
    tokens = tokenize(text)
    if not any(t.is_number for t in tokens):
        return ()
    spans = set()
    upper = text.isupper()
    for i, token in enumerate(tokens):
        written = token.text.islower() or token.text.istitle() or (upper and token.text.isupper())
        if not written:
            continue  # "sT1W", "CT": a street type is written as a word
        if token.norm in STREET_TYPES or (len(token.norm) > 5 and _COMPOUND.search(token.norm)):
            span = _around(text, tokens, i)
            if span:
                spans.add(span)
    starts = [t.start for t in tokens]
    for m in _CUE.finditer(text):
        span = _after_cue(text, tokens, bisect_left(starts, m.end()))
        if span:
            spans.add(span)
    return tuple(sorted(spans))


def _part(text: str, token: Token) -> bool:
    """A token that can be part of an address: a number, a capitalised word,
    a connector ("rue de la Paix"), a postal code piece."""
    if token.is_number:
        return len(token.text) <= 5
    return token.text[0].isupper() or token.norm in _CONNECTORS or token.norm in STREET_TYPES


def _clause(text: str, a: Token, b: Token) -> bool:
    """Same clause; the dot of an abbreviated street type ("St.", "ul.")
    does not end one."""
    gap = text[a.end : b.start]
    if gap.startswith(". ") and a.norm in STREET_TYPES:
        gap = gap[1:]
    return not _CLAUSE_END.search(gap)


def _window(text: str, tokens: list[Token], i: int) -> tuple[int, int]:
    start = end = i
    while (
        start > 0
        and i - start < 6
        and _part(text, tokens[start - 1])
        and _clause(text, tokens[start - 1], tokens[start])
    ):
        start -= 1
    while (
        end + 1 < len(tokens)
        and end - start < _MAX_TOKENS
        and _part(text, tokens[end + 1])
        and _clause(text, tokens[end], tokens[end + 1])
    ):
        end += 1
    return start, end


def _around(text: str, tokens: list[Token], i: int) -> Span | None:
    start, end = _window(text, tokens, i)
    window = tokens[start : end + 1]
    technical = lexicon().technical
    if "_" in text[window[0].start : window[-1].end]:
        return None  # labels and protocol names, not addresses
    named = [
        t for t in window
        if not t.is_number and t.text.istitle() and len(t.norm) >= 3 and t.norm not in technical
        and t.norm not in STREET_TYPES
    ]  # fmt: skip
    compound = _COMPOUND.search(tokens[i].norm) and len(tokens[i].norm) > 5
    if not any(t.is_number for t in window) or not (named or compound):
        return None
    while window and not (window[0].is_number or window[0].text[0].isupper()):
        window = window[1:]
    return (window[0].start, window[-1].end) if window else None


def _after_cue(text: str, tokens: list[Token], first: int) -> Span | None:
    """The address after a cue; `first`: its first token's index (found by
    bisection: listing the tokens after each cue made many cues quadratic)."""
    if first >= len(tokens):
        return None
    if not _part(text, tokens[first]):
        return None
    start, end = _window(text, tokens, first)
    window = tokens[first : end + 1]
    if not any(t.is_number for t in window):
        return None
    return window[0].start, window[-1].end
