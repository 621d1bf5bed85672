"""Which words of a text identify someone: the one answer that cleaning
removes, `deid scan` reports and verification checks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
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
    claimed: list[tuple[int, int]] = []
    for kind, finder in _GENERIC:
        for start, end in finder(text):
            if any(s < end and start < e for s, e in claimed):
                continue
            out.append(Span(start, end, kind))
        claimed = [(s.start, s.end) for s in out]
    return tuple(out)


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
    kinds = {}
    for s in found:
        kinds.setdefault((s.start, s.end), s.kind)
    out, at = [], 0
    for start, end in merge((s.start, s.end) for s in found):
        kind = next((k for (s, e), k in kinds.items() if s >= start and e <= end), "text")
        out.append(text[at:start] + f"[{kind}]")
        at = end
    out.append(text[at:])
    return "".join(out)


def _tidy(text: str) -> str:
    text = re.sub(r"[(\[{]\s*[)\]}]", " ", text)  # brackets left empty
    text = re.sub(r"\s+([,;:.])", r"\1", text)
    return re.sub(r"\s{2,}", " ", text).strip(" ,;:-_^")
