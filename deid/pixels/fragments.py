"""RLE Lossless pixel data holds its frames' images and nothing else.

An RLE frame is one fragment (PS3.5 A.4.2): a header of segment offsets,
then each segment's PackBits runs. A decoder reads what the image needs and
ignores the rest, so more can hide there and go out byte for byte, never
examined: a second fragment of plain text (a name, an ID, a birth date), a
whole second picture (a hidden frame of the name), text after a segment's
runs or inside a last literal run longer than the image needs, a non-zero
unused offset. A run drops fragments beyond the frames and encodes the
frames again from their decoded pixels when any holds more than its image;
pixel data holding nothing more is left byte for byte.

Other encapsulated syntaxes (JPEG, JPEG 2000) are not checked: a frame may
span fragments there, and their streams' ends need their own parsers.
"""

from __future__ import annotations

import struct

from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, generate_fragments
from pydicom.uid import RLELossless

from deid.dicom_io import transfer_syntax
from deid.risk.findings import Finding, Severity

# The Extended Offset Table and its lengths (PS3.5 A.4) point into the
# fragments as they were: pixel data stored again has other sizes, and a
# reader following the old offsets cannot decode the image (pydicom writes
# a new Basic Offset Table and leaves these). Native pixel data may not
# have them at all (PS3.3 C.7.6.3).
_EXTENDED_OFFSETS = (0x7FE00001, 0x7FE00002)


def drop_offset_tables(ds: Dataset) -> None:
    for tag in _EXTENDED_OFFSETS:
        if tag in ds:
            del ds[tag]


def store(ds: Dataset, frames: list[bytes]) -> None:
    """Encapsulated pixel data of one fragment a frame, its offsets new."""
    ds.PixelData = encapsulate(frames, has_bot=True)
    ds["PixelData"].is_undefined_length = True
    drop_offset_tables(ds)


def trim(ds: Dataset, write: bool = True) -> int:
    """How many fragments beyond the frames, and frames holding more than
    their image, RLE pixel data has; with `write`, they are removed."""
    layout = _layout(ds)
    if layout is None:
        return 0
    frames, size = layout
    try:
        fragments = list(generate_fragments(ds.PixelData))[1:]  # after the offset table
    except (ValueError, struct.error, EOFError):
        return 0  # not readable as fragments: decoding says so
    if len(fragments) < frames:
        return 0  # frames missing: decoding fails and says so
    fuller = sum(not _image_only(f, size) for f in fragments[:frames])
    found = len(fragments) - frames + fuller
    if found and write:
        store(ds, fragments[:frames])
        if fuller:
            _encode_again(ds)
    return found


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


def _image_only(fragment: bytes, size: int) -> bool:
    """The fragment is its header and its segments' runs, each segment
    decoding to exactly `size` bytes and padded by at most one byte. A
    header that cannot be read is left to the decoder (True)."""
    if len(fragment) < 64:
        return True
    header = struct.unpack("<16L", fragment[:64])
    count = header[0]
    if not 1 <= count <= 15:
        return True
    offsets = list(header[1 : 1 + count])
    segments = list(zip(offsets, [*offsets[1:], len(fragment)], strict=True))
    if offsets[0] != 64 or any(not s <= e <= len(fragment) for s, e in segments):
        return True
    if any(header[1 + count :]):
        return False  # an unused offset that is not zero holds something
    return all(_exact(fragment, s, e, size) for s, e in segments)


def _exact(data: bytes, start: int, end: int, size: int) -> bool:
    """data[start:end] is PackBits runs making exactly `size` bytes, then at
    most one padding byte."""
    at, made = start, 0
    while made < size and at < end:
        n = data[at]
        if n < 128:
            at, made = at + n + 2, made + n + 1
        elif n > 128:
            at, made = at + 2, made + 257 - n
        else:
            at += 1  # no operation
    return made == size and end - 1 <= at <= end


def _encode_again(ds: Dataset) -> None:
    """The frames decoded as stored (no colour conversion) and encoded
    again: only what the image uses is kept. Left as it is where they do not
    decode: the examination then fails the file and says why."""
    from pydicom.pixels import get_decoder

    try:
        array, _ = get_decoder(RLELossless).as_array(ds, raw=True)
        ds.compress(RLELossless, array, generate_instance_uid=False)
    except Exception:  # noqa: BLE001, S110 - any decoder failure: the examination says it
        return


def finding(found: int, label: str, severity: Severity, action: str) -> Finding:
    """What a run removed and a scan reports alike."""
    message = (
        f"encapsulated pixel data holds {found} fragment(s) beyond its frames or frame(s) "
        "holding more than their image: no part of the image, never examined"
    )
    return Finding("pixels.surplus-fragments", severity, message, label, "PixelData", action)
