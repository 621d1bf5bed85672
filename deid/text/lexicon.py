"""The word lists shipped with deid (see deid/text/data/generate.py), read
once per process when a detector first needs them."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

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


# Particles of family names ("van der Berg", "de la Cruz", "al-Hassan"): part
# of the whole name, never a name on their own.
PARTICLES = frozenset(
    [
        "van",
        "von",
        "de",
        "da",
        "das",
        "do",
        "dos",
        "du",
        "del",
        "della",
        "der",
        "den",
        "di",
        "la",
        "le",
        "al",
        "el",
        "bin",
        "ibn",
        "ben",
        "bint",
        "ter",
        "ten",
        "af",
        "av",
        "zu",
        "y",
        "e",
        "st",
        "op",
        "te",
        "ال",
    ]
)


DATA = Path(__file__).resolve().parent / "data"
# A standard word that names many entries ("Doppler", "Gray", "Bone") is a
# technical word; one seen once or twice in the standard ("Hansel", a dog
# breed) may still be someone's name.
_TECHNICAL_MIN_COUNT = 3


@dataclass(frozen=True)
class Lexicon:
    given: frozenset[str]
    family: frozenset[str]
    cjk_given: frozenset[str]
    cjk_family: frozenset[str]
    technical: frozenset[str]
    months: dict[str, int]
    vocabulary: frozenset[str]

    family_endings: frozenset[str] = frozenset()
    street_words: frozenset[str] = frozenset()  # street, ul., rue: no one's address alone

    def is_name(self, word: str) -> bool:
        return word in self.given or word in self.family or self.family_shaped(word)

    def family_shaped(self, word: str) -> bool:
        """Ends like many family names and no standard word (-ski, -wicz,
        -enko, -poulos, -oğlu): names the gazetteer lacks still have it."""
        return len(word) >= 6 and (
            word[-3:] in self.family_endings or word[-4:] in self.family_endings
        )


def _read(name: str) -> str:
    return (DATA / name).read_text(encoding="utf-8")


def _words(pattern: str, text: str) -> frozenset[str]:
    """Words of the lines that match (one regular-expression pass: a few
    milliseconds for the 55 000 names, in every worker that needs them)."""
    return frozenset(re.findall(pattern, text, re.MULTILINE))


_CJK = "\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"


@cache
def lexicon() -> Lexicon:
    names = _read("names.txt")
    vocabulary = _read("vocabulary.txt")
    given = _words(r"^([^\t#]+)\tgs?$", names)
    family = _words(r"^([^\t#]+)\tg?s$", names)
    cjk_given = _words(rf"^([{_CJK}]+)\tgs?$", names)
    cjk_family = _words(rf"^([{_CJK}]+)\tg?s$", names)
    months = {
        w: int(n)
        for source in ("months.txt", "months-inflected.txt")
        for w, n in re.findall(r"^([^\t#]+)\t(\d+)$", _read(source), re.M)
    }
    return Lexicon(
        given - cjk_given,
        family - cjk_family,
        cjk_given,
        cjk_family,
        _words(rf"^([^\t#]+)\t(?:[{_TECHNICAL_MIN_COUNT}-9]|\d\d+)$", vocabulary),
        months,
        _words(r"^([^\t#]+)\t", vocabulary),
        _words(r"^([^\t#\n]+)$", _read("endings.txt")),
        _words(r"^([^\t#\n]+)$", _read("street-words.txt")),
    )


# An ending counts when this many family names have it, four times fewer
# given names, and no word of the standard.
_ENDING_MIN_NAMES = 40


def _endings(words: Iterable[str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for word in words:
        if len(word) >= 6:
            counts.update({word[-3:], word[-4:]})
    return counts


def family_endings(lex: Lexicon) -> list[str]:
    """Three- and four-letter endings that mark family names (-ski, -enko):
    made by deid/text/data/generate.py into endings.txt."""
    families, givens = _endings(lex.family - lex.given), _endings(lex.given)
    taken = {w[-n:] for w in lex.vocabulary for n in (3, 4) if len(w) >= 5}
    return sorted(
        e
        for e, c in families.items()
        if c >= _ENDING_MIN_NAMES and givens[e] * 4 <= c and e not in taken
    )
