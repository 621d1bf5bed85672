"""RLE Lossless pixel data holds its frames' segments and nothing else.

An RLE frame is one fragment (PS3.5 A.4.2): a header of segment offsets,
then each segment's PackBits data. A decoder reads what the image needs and
ignores the rest, so more can hide there and go out byte for byte, never
examined: a second fragment of plain text (a name, an ID, a birth date), a
whole second picture (a hidden frame of the name), text after a segment's
data. A run keeps each frame's segments up to where their data ends (and
the one byte that pads a segment to even length) and drops fragments
beyond the frames; pixel data holding nothing more is left byte for byte.

Other encapsulated syntaxes (JPEG, JPEG 2000) are not trimmed: a frame may
span fragments there, and their streams' ends need their own parsers.
"""

from __future__ import annotations

import struct

from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, generate_fragments
from pydicom.uid import RLELossless

from deid.dicom_io import transfer_syntax
from deid.risk.findings import Finding, Severity


def trim(ds: Dataset, write: bool = True) -> int:
    """How many bytes of RLE pixel data lie beyond its frames' data (or
    differ from it: an unused offset that is not zero); with `write`, the
    pixel data is rebuilt from its frames' data alone."""
    layout = _layout(ds)
    if layout is None:
        return 0
    frames, segment_size = layout
    fragments = list(generate_fragments(ds.PixelData))[1:]  # the first item is the offset table
    if len(fragments) < frames:
        return 0  # frames missing: decoding fails and says so
    kept = [_frame(f, segment_size) for f in fragments[:frames]]
    if any(k is None for k in kept):
        return 0  # a header the decoder will refuse
    frames_data = [k for k in kept if k is not None]
    if len(fragments) == frames and frames_data == fragments:
        return 0
    if write:
        ds.PixelData = encapsulate(frames_data, has_bot=True)
        ds["PixelData"].is_undefined_length = True
    removed = sum(map(len, fragments)) - sum(map(len, frames_data))
    return max(removed, 1)


def _layout(ds: Dataset) -> tuple[int, int] | None:
    """Frames, and the bytes each segment decodes to (one byte plane)."""
    if "PixelData" not in ds or transfer_syntax(ds) != RLELossless:
        return None
    try:
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        rows, cols = int(ds.Rows), int(ds.Columns)
    except (AttributeError, TypeError, ValueError):
        return None
    if min(frames, rows, cols) < 1:
        return None
    return frames, rows * cols


def _frame(fragment: bytes, segment_size: int) -> bytes | None:
    """The fragment rebuilt from its segments' data alone (each with the
    byte that pads it to even length), offsets recomputed and unused ones
    zero; None where its header cannot be read."""
    if len(fragment) < 64:
        return None
    header = struct.unpack("<16L", fragment[:64])
    count = header[0]
    if not 1 <= count <= 15:
        return None
    offsets = list(header[1 : 1 + count])
    bounds = [*offsets[1:], len(fragment)]
    places = list(zip(offsets, bounds, strict=True))
    if any(not 64 <= start <= end <= len(fragment) for start, end in places):
        return None
    segments = []
    for start, end in places:
        used = _packbits_length(fragment, start, end, segment_size)
        used += used % 2 and start + used < end  # the padding byte
        segments.append(fragment[start : start + used])
    at, placed = 64, []
    for segment in segments:
        placed.append(at)
        at += len(segment)
    head = struct.pack("<16L", count, *placed, *([0] * (15 - count)))
    rebuilt = head + b"".join(segments)
    return rebuilt + b"\0" * (len(rebuilt) % 2)  # as an item holds it: even


def _packbits_length(data: bytes, start: int, end: int, size: int) -> int:
    """Bytes of data[start:end] PackBits reads to produce `size` bytes."""
    at, made = start, 0
    while made < size and at < end:
        n = data[at]
        if n < 128:
            at, made = at + n + 2, made + n + 1
        elif n > 128:
            at, made = at + 2, made + 257 - n
        else:
            at += 1  # no operation
    return min(at, end) - start


def finding(removed: int, label: str, severity: Severity, action: str) -> Finding:
    """What a run removed and a scan reports alike."""
    return Finding(
        "pixels.surplus-fragments",
        severity,
        f"RLE pixel data holds {removed} byte(s) beyond its frames' data (a fragment more "
        "than its frames, or bytes after a segment's data): no part of the image, never "
        "examined",
        file=label,
        location="PixelData",
        action=action,
    )
