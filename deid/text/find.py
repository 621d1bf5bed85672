"""Which words of a text identify someone: the one answer that cleaning
removes, `deid scan` reports and verification checks."""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from typing import TYPE_CHECKING

from deid.text import names, patterns, places
from deid.text.terms import PhraseIndex, merge

if TYPE_CHECKING:
    from deid.risk.identifiers import Identifier

# Kinds found by pattern, strongest claim first: a span is reported as the
# first kind that claims it ("2021-03-12" is a date, not a phone number).
_GENERIC = (
    ("email", patterns.emails),
    ("date", patterns.dates),
    ("phone", patterns.phones),
    ("address", places.find),
    ("name", names.find),
    ("number", patterns.long_numbers),
)


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int
    kind: str  # name, id, date, phone, email, address, institution, number
    source: str = ""  # tag path of the file's own identifier; "" when found by pattern

    @property
    def own(self) -> bool:
        return bool(self.source)


@lru_cache(maxsize=8192)
def generic_spans(text: str) -> tuple[Span, ...]:
    """Identifying words found by pattern and by the name detector alone."""
    out: list[Span] = []
    for kind, finder in _GENERIC:
        claimed = _Claimed(out)
        out += [Span(s, e, kind) for s, e in finder(text) if not claimed.overlaps(s, e)]
    return tuple(out)


class _Claimed:
    """Spans kept by earlier kinds, asked in log time whether a new one
    overlaps any (asking each in turn made a long text quadratic: 210 kB of
    dated names took 3 s, 840 kB 50 s)."""

    def __init__(self, spans: list[Span]) -> None:
        ordered = sorted((s.start, s.end) for s in spans)
        self.starts = [start for start, _ in ordered]
        self.reach = list(accumulate((end for _, end in ordered), max))

    def overlaps(self, start: int, end: int) -> bool:
        before = bisect_left(self.starts, end)  # the spans starting before `end`
        return before > 0 and self.reach[before - 1] > start


def spans(text: str, terms: PhraseIndex[Identifier] | None = None) -> list[Span]:
    """The file's own identifiers first, then what the patterns find."""
    out = []
    if terms:
        out = [Span(h.start, h.end, h.label.kind, h.label.where) for h in terms.find(text)]
    return out + list(generic_spans(text))


def remove(text: str, found: list[Span]) -> str:
    """`text` without the spans, tidied: what clean (C) writes."""
    if not found:
        return text
    kept, at = [], 0
    for start, end in merge((s.start, s.end) for s in found):
        kept.append(text[at:start])
        at = end
    kept.append(text[at:])
    return _tidy(" ".join(kept))


def redact(text: str, found: list[Span]) -> str:
    """`text` with each span replaced by its kind: evidence a report may show."""
    if not found:
        return text
    merged = merge((s.start, s.end) for s in found)
    starts = [start for start, _ in merged]
    kinds: dict[int, str] = {}  # merged range -> the kind of its first span found
    for s in found:
        kinds.setdefault(bisect_right(starts, s.start) - 1, s.kind)
    out, at = [], 0
    for i, (start, end) in enumerate(merged):
        out.append(text[at:start] + f"[{kinds.get(i, 'text')}]")
        at = end
    out.append(text[at:])
    return "".join(out)


def _tidy(text: str) -> str:
    text = re.sub(r"[(\[{]\s*[)\]}]", " ", text)  # brackets left empty
    # Runs collapsed first: "\s+" before a required character would try every
    # position of a long run to its end (quadratic in its length).
    text = re.sub(r"\s{2,}", " ", text)
    return re.sub(r"\s([,;:.])", r"\1", text).strip(" ,;:-_^")
