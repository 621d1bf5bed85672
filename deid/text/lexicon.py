"""The word lists shipped with deid (see deid/text/data/generate.py), read
once per process when a detector first needs them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from deid.text.tokens import _UNSPACED

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

    def is_name(self, word: str) -> bool:
        return word in self.given or word in self.family or self.family_shaped(word)

    def family_shaped(self, word: str) -> bool:
        """Ends like many family names and no standard word (-ski, -wicz,
        -enko, -poulos, -oğlu): names the gazetteer lacks still have it."""
        return len(word) >= 6 and (
            word[-3:] in self.family_endings or word[-4:] in self.family_endings
        )


def _rows(name: str) -> list[list[str]]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [line.split("\t") for line in lines if line and not line.startswith("#")]


@cache
def lexicon() -> Lexicon:
    given, family, cjk_given, cjk_family = set(), set(), set(), set()
    for word, flags in _rows("names.txt"):
        cjk = bool(_UNSPACED.search(word))
        if "g" in flags:
            (cjk_given if cjk else given).add(word)
        if "s" in flags:
            (cjk_family if cjk else family).add(word)
    vocabulary = {w for w, _ in _rows("vocabulary.txt")}
    technical = {w for w, count in _rows("vocabulary.txt") if int(count) >= _TECHNICAL_MIN_COUNT}
    months = {w: int(n) for w, n in _rows("months.txt")}
    return Lexicon(
        frozenset(given),
        frozenset(family),
        frozenset(cjk_given),
        frozenset(cjk_family),
        frozenset(technical),
        months,
        frozenset(vocabulary),
        _family_endings(family, given, vocabulary),
    )


# An ending counts when this many family names have it, four times fewer
# given names, and no word of the standard.
_ENDING_MIN_NAMES = 40


def _endings(words: set[str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for word in words:
        if len(word) >= 6:
            counts.update({word[-3:], word[-4:]})
    return counts


def _family_endings(family: set[str], given: set[str], vocabulary: set[str]) -> frozenset[str]:
    """Three- and four-letter endings that mark family names (-ski, -enko)."""
    families, givens = _endings(family - given), _endings(given)
    taken = {w[-n:] for w in vocabulary for n in (3, 4) if len(w) >= 5}
    return frozenset(
        e
        for e, c in families.items()
        if c >= _ENDING_MIN_NAMES and givens[e] * 4 <= c and e not in taken
    )
