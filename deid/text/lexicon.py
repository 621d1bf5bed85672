"""The word lists shipped with deid (see deid/text/data/generate.py), read
once per process when a detector first needs them."""

from __future__ import annotations

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

    def is_name(self, word: str) -> bool:
        return word in self.given or word in self.family


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
    technical = {w for w, count in _rows("vocabulary.txt") if int(count) >= _TECHNICAL_MIN_COUNT}
    months = {w: int(n) for w, n in _rows("months.txt")}
    return Lexicon(
        frozenset(given),
        frozenset(family),
        frozenset(cjk_given),
        frozenset(cjk_family),
        frozenset(technical),
        months,
    )
