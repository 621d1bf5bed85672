"""Private blocks cut out of a file's bytes before it is parsed.

Most profiles remove every private attribute undecoded (scrub's wholesale
removal). On scanner headers those are half the elements or more, and
parsing them into pydicom objects only to delete them was the largest part
of reading a CT slice. Where the bytes can be stepped through exactly as
pydicom reads them (deid.raw_walk), top-level private elements (odd groups,
as the wholesale removal counts them) are cut out first; private elements
inside standard sequences are still removed after parsing. Anything the
walk cannot step over leaves the bytes whole.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from deid.raw_walk import (
    SHORT_VRS,
    UNDEFINED,
    CannotTell,
    data_set_start,
    element,
    looks_explicit,
    past_undefined,
    skip_fragments,
)

_EXPLICIT = struct.Struct("<HH2sH")
_UNDEFINED_LENGTH = struct.pack("<I", UNDEFINED)
_NOT_STEPPED = frozenset({0x0000, 0x0002, 0xFFFE})
_FRAGMENTED = frozenset({b"OB", b"OW"})  # encapsulated pixel data: items of bytes


@dataclass(frozen=True)
class Cut:
    """The bytes without top-level private elements, how many were cut, and
    the cut runs ([start, end) in the original), to map offsets back."""

    data: bytes
    count: int = 0
    spans: tuple[tuple[int, int], ...] = ()

    def original(self, offset: int) -> int:
        """Where a byte of `data` is in the original bytes."""
        for start, end in self.spans:
            if start > offset:
                break
            offset += end - start
        return offset


def without_private(data: bytes) -> Cut:
    """The file's bytes without its top-level private elements (unchanged,
    count 0, when there are none or the walk cannot tell)."""
    try:
        pos, implicit = data_set_start(data)
        spans, count = _private_spans(data, pos, implicit)
    except (CannotTell, RecursionError, struct.error):
        return Cut(data)
    if not spans:
        return Cut(data)
    pieces, kept_from = [], 0
    for start, end in spans:
        pieces.append(data[kept_from:start])
        kept_from = end
    pieces.append(data[kept_from:])
    return Cut(b"".join(pieces), count, tuple((a, b) for a, b in spans))


def _private_spans(data: bytes, pos: int, implicit: bool) -> tuple[list[list[int]], int]:
    """[start, end) of runs of top-level private elements, and their number.
    The walk must reach the end of the data exactly, as pydicom's does."""
    spans: list[list[int]] = []
    count, size, first = 0, len(data), pos
    seen: set[int] = set()
    head = _EXPLICIT.unpack_from
    while pos < size:
        if pos + 8 > size:
            raise CannotTell
        group, number, vr, short = head(data, pos)
        tag = group << 16 | number
        # Items or delimiters at the top level, meta or command elements
        # (after a cut, pydicom would read them into the file meta), a tag
        # twice (pydicom keeps one): left to pydicom.
        if group in _NOT_STEPPED or tag in seen:
            raise CannotTell
        seen.add(tag)
        if not implicit and vr in SHORT_VRS:  # the common case, inline
            end = pos + 8 + short
        elif not implicit and vr in _FRAGMENTED and data[pos + 8 : pos + 12] == _UNDEFINED_LENGTH:
            end = skip_fragments(data, pos + 12)
        else:
            _, _, length, start = element(data, pos, implicit)
            undefined = length == UNDEFINED
            end = past_undefined(data, tag, start, implicit) if undefined else start + length
        if end > size:
            raise CannotTell  # cut short: pydicom's read reports it
        if group & 1:
            count += 1
            if spans and spans[-1][1] == pos:
                spans[-1][1] = end
            else:
                spans.append([pos, end])
        pos = end
    if spans and spans[0][0] == first and looks_explicit(data, spans[0][1]) == implicit:
        raise CannotTell  # the new first element would make pydicom read the other encoding
    return spans, count
