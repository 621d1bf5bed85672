"""Find known token sequences (a file's own identifiers) in text.

An identifier becomes phrases: token sequences such as `(garcia,)`,
`(garcia, lopez)`, `(1965, 4, 12)`. A phrase matches wherever the text's
tokens are the same, whatever separators stand between them. Long digit
strings (phone numbers, long IDs) are matched on their digits instead, as
people group them in many ways (`(217) 555-0147`, `217.555.0147`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Generic, TypeVar

from deid.text.tokens import (
    DIGRAPHS,
    Token,
    camel_parts,
    composed,
    dotted_after,
    dotted_before,
    fold,
    tokenize,
)

T = TypeVar("T")
_DIGITS = re.compile(r"\d+")

# Separators allowed inside a number written in groups ("555 - 0147").
_MAX_DIGIT_GAP = 3
# A phone number may be written with a country code the identifier lacks.
_MAX_PREFIX_DIGITS = 3


@dataclass(frozen=True, slots=True)
class Hit(Generic[T]):
    start: int
    end: int
    label: T


@dataclass
class PhraseIndex(Generic[T]):
    """Phrases and digit strings to look for, each with a label."""

    # First word -> length -> phrase -> (order added, label): a text's words
    # are looked up, not compared with every phrase that starts alike (a
    # value holding thousands of e-mail addresses "john@hN.org" made one
    # list of thousands, walked at every "john" of the text).
    _first: dict[str, dict[int, dict[tuple[str, ...], list[tuple[int, T]]]]] = field(
        default_factory=dict
    )
    _added: int = 0
    # Digits -> (order added, with_prefix, label): likewise, looked up.
    _by_digits: dict[str, list[tuple[int, bool, T]]] = field(default_factory=dict)
    _word_literals: set[tuple[str, ...]] = field(default_factory=set)
    _unfilterable: bool = False

    def add(self, phrase: tuple[str, ...], label: T) -> None:
        """A phrase already there for a label of the same kind adds nothing:
        the text's matches are the same, and each would be one more hit at
        every place (4 000 names sharing a surname made 7 million hits, 20 s,
        in a text naming it 600 times). Its first label speaks for it."""
        if not phrase:
            return
        sizes = self._first.setdefault(phrase[0], {})
        labels = sizes.setdefault(len(phrase), {}).setdefault(phrase, [])
        if any(_same_kind(known, label) for _, known in labels):
            return
        labels.append((self._added, label))
        self._added += 1
        if "".join(phrase).isascii():
            self._word_literals.add(phrase)
        else:
            self._unfilterable = True  # other charsets: raw bytes cannot rule it out

    def add_digits(self, digits: str, label: T, with_prefix: bool = False) -> None:
        """Digits written in any grouping; `with_prefix` also accepts up to
        three digits before them (a country code)."""
        digits = digits.lstrip("0")
        if not digits:
            return
        labels = self._by_digits.setdefault(digits, [])
        if any(prefix == with_prefix and _same_kind(known, label) for _, prefix, known in labels):
            return  # as for phrases
        labels.append((self._added, with_prefix, label))
        self._added += 1

    def __bool__(self) -> bool:
        return bool(self._first or self._by_digits)

    def find(self, text: str) -> list[Hit[T]]:
        tokens = tokenize(text)
        hits = list(self._phrase_hits(text, tokens))
        if self._by_digits:
            hits += self._digit_hits(text, tokens)
        return hits

    def _phrase_hits(self, text: str, tokens: list[Token]) -> Iterator[Hit[T]]:
        norms = [t.norm for t in tokens]
        for i, norm in enumerate(norms):
            found = []
            for size, phrases in self._first.get(norm, {}).items():
                for order, label in phrases.get(tuple(norms[i : i + size]), ()):
                    found.append((order, size, label))
            for _, size, label in sorted(found, key=lambda f: f[0]):  # in the order added
                first, last = tokens[i], tokens[i + size - 1]
                if first.is_number and _cut_before(text, first.start, size):
                    continue
                if last.is_number and _cut_after(text, last.end, size):
                    continue
                yield Hit(first.start, last.end, label)
            for part in camel_parts(tokens[i]):
                single = self._first.get(part.norm, {}).get(1, {})
                for _, label in single.get((part.norm,), ()):
                    yield Hit(part.start, part.end, label)

    def _digit_hits(self, text: str, tokens: list[Token]) -> Iterator[Hit[T]]:
        """Numbers written in groups, leading zeros allowed. A group of zeros
        only is a leading zero of the groups after it: their hits are found
        once from the first group that is not, and once more from the first
        zero before it (the widest; the hits from the zeros between lie
        inside it). Asked from every zero, a run of "0 0 0 ..." took time
        cubic in its length."""
        longest = max(map(len, self._by_digits)) + _MAX_PREFIX_DIGITS
        for run in _number_runs(text, tokens):
            zeros_from: int | None = None
            for i, token in enumerate(run):
                if not token.text.strip("0"):
                    zeros_from = i if zeros_from is None else zeros_from
                    continue
                for j, label in self._matches_from(run, i, longest):
                    yield Hit(token.start, run[j].end, label)
                    if zeros_from is not None:
                        yield Hit(run[zeros_from].start, run[j].end, label)
                zeros_from = None

    def _matches_from(self, run: list[Token], i: int, longest: int) -> Iterator[tuple[int, T]]:
        """(last group, label) of each digit string the groups from `i` on
        spell (run[i] is not zeros only, so the digits grow with each group)."""
        core = ""
        for j in range(i, len(run)):
            core = core + run[j].text if core else run[j].text.lstrip("0")
            if len(core) > longest:
                return
            # The digits themselves, or (with_prefix) after up to three more.
            found = list(self._by_digits.get(core, ()))
            for cut in range(1, min(_MAX_PREFIX_DIGITS, len(core) - 1) + 1):
                found += [f for f in self._by_digits.get(core[cut:], ()) if f[1]]
            for _, _, label in sorted(found, key=lambda f: f[0]):  # in the order added
                yield j, label

    def may_match(self, text: str) -> bool:
        """A cheap test that rules a text out: False only when no phrase and
        no digit string can match it."""
        if self._unfilterable:
            return True
        folded = fold(text)
        if not folded.isascii():
            folded = _spell_digraphs(_ascii_digits(composed(folded)))
        words = {w for phrase in self._word_literals for w in phrase}
        present = {w for w in words if w in folded}
        for phrase in self._word_literals:
            # Every word of the phrase is there, and in order with only
            # separators (or leading zeros) between them.
            if present.issuperset(phrase) and _loose(phrase).search(folded):
                return True
        if not self._by_digits:
            return False
        digits = "".join(_DIGITS.findall(text))
        return any(d in digits for d in self._by_digits)


def _same_kind(a: object, b: object) -> bool:
    """Labels that say the same of a match: of one kind (identifiers), or equal."""
    kind = getattr(a, "kind", None)
    return a == b if kind is None else kind == getattr(b, "kind", None)


_OTHER_DIGIT = re.compile(r"(?![0-9])\d")


def _ascii_digits(folded: str) -> str:
    """Digits of other scripts as ASCII: a number of one or two digits is
    compared by its value ("٠٤" is the word "4")."""
    return _OTHER_DIGIT.sub(lambda m: str(int(m.group())), folded)


def _spell_digraphs(folded: str) -> str:
    """ß as ss and so on, as tokens are compared ("weiß" is the word
    "weiss"); replace() where the letter occurs, as translate() looks up
    every character of a long text."""
    for letter, spelled in DIGRAPHS.items():
        if letter in folded:
            folded = folded.replace(letter, spelled)
    return folded


@lru_cache(maxsize=4096)
def _loose(phrase: tuple[str, ...]) -> re.Pattern[str]:
    """The phrase's words in order, anything but letters and digits between
    them, numbers with any leading zeros: every match's text matches.

    Inside a multi-word phrase a word may not run on into more of the same
    kind ("whole body" is no match in "wholesale body"): every byte after it
    is a byte of the same value. Nothing is asked of the bytes before the
    first word or after the last: in the raw bytes they may be a length, a
    tag or a VR glued to the value (up to six letters, or two digits), and
    a one-word phrase may be one part of a word written in mixed case
    ("GTVSmith").
    """
    last = len(phrase) - 1
    parts = []
    for i, word in enumerate(phrase):
        inner = i < last
        if word.isdigit():
            parts.append("0*" + re.escape(word) + (r"(?!\d)" if inner else ""))
        else:
            parts.append(re.escape(word) + (r"(?![a-z])" if inner else ""))
    return re.compile(r"[^a-z0-9]*".join(parts))


def _cut_before(text: str, start: int, size: int) -> bool:
    """A number that continues a dotted number (a UID, a version), or, for a
    sequence of numbers, one glued to a word ("PS3.15 2024b" is no date)."""
    glued = size > 1 and start > 0 and text[start - 1].isalpha()
    return glued or dotted_before(text, start)


def _cut_after(text: str, end: int, size: int) -> bool:
    glued = size > 1 and end < len(text) and text[end].isalpha()
    return glued or dotted_after(text, end)


def _number_runs(text: str, tokens: list[Token]) -> Iterator[list[Token]]:
    """Numbers next to each other with only short separators between them."""
    run: list[Token] = []
    for token in tokens:
        if not token.is_number:
            if run:
                yield run
            run = []
            continue
        if run and token.start - run[-1].end > _MAX_DIGIT_GAP:
            yield run
            run = []
        run.append(token)
    if run:
        yield run


def merge(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or touching spans as one."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out
