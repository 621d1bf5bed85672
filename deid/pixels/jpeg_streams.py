"""JPEG pixel data holds its frames' images and nothing else.

A JPEG stream (ISO 10918: baseline, extended, lossless) is markers and
entropy-coded data from SOI to EOI. A decoder ignores what follows EOI and
what comment segments (COM) say, so text can go there and out byte for
byte, never examined (some equipment writes comments into its streams). A
run cuts each frame's stream after its EOI and drops its COM segments; the
image decodes the same. Only pixel data of one fragment per frame is read
(a frame spread over fragments is left as it is), as is every stream deid
cannot follow marker by marker.
"""

from __future__ import annotations

import struct

from pydicom.dataset import Dataset
from pydicom.encaps import generate_fragments
from pydicom.uid import UID

from deid.dicom_io import transfer_syntax
from deid.pixels.fragments import store

# ISO 10918 process syntaxes (PS3.5 A.4.1): baseline, extended, lossless.
_JPEG = frozenset(
    UID(uid)
    for uid in ("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57",
                "1.2.840.10008.1.2.4.70")
)  # fmt: skip
_SOI, _EOI, _SOS, _COM = 0xD8, 0xD9, 0xDA, 0xFE
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-7: no length


def trim(ds: Dataset, write: bool = True) -> int:
    """How many frames hold bytes after their EOI or comment segments; with
    `write`, those are removed."""
    if "PixelData" not in ds or transfer_syntax(ds) not in _JPEG:
        return 0
    try:
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        fragments = list(generate_fragments(ds.PixelData))[1:]  # after the offset table
    except (TypeError, ValueError, struct.error, EOFError):
        return 0
    if len(fragments) != frames:
        return 0  # a frame over several fragments: not followed here
    kept = [_kept(f) for f in fragments]
    changed = sum(k is not f for k, f in zip(kept, fragments, strict=True))
    if changed and write:
        store(ds, kept)
    return changed


def _kept(fragment: bytes) -> bytes:
    """The fragment itself where it is its stream and at most a padding
    byte (or cannot be followed); else its stream, padded to even length."""
    stream = _image_only(fragment)
    if stream is None or (fragment.startswith(stream) and len(fragment) - len(stream) <= 1):
        return fragment
    return stream + b"\0" * (len(stream) % 2)


def _image_only(stream: bytes) -> bytes | None:
    """The stream from SOI to EOI without COM segments; None where it
    cannot be followed."""
    if stream[:2] != b"\xff\xd8":
        return None
    parts, at = [stream[:2]], 2
    while at + 1 < len(stream):
        if stream[at] != 0xFF:
            return None
        marker = stream[at + 1]
        if marker == 0xFF:  # a fill byte before a marker, kept
            parts.append(stream[at : at + 1])
            at += 1
            continue
        if marker == _EOI:
            parts.append(stream[at : at + 2])
            return b"".join(parts)
        if marker in _STANDALONE:
            parts.append(stream[at : at + 2])
            at += 2
            continue
        if at + 4 > len(stream):
            return None
        end = at + 2 + struct.unpack(">H", stream[at + 2 : at + 4])[0]
        if marker == _SOS:
            end = _entropy_end(stream, end)
            if end is None:
                return None
        if marker != _COM:
            parts.append(stream[at:end])
        at = end
    return None


def _entropy_end(stream: bytes, at: int) -> int | None:
    """Where the entropy-coded data after a scan header ends: at the first
    marker that is neither a stuffed 0xFF00 nor a restart marker."""
    while True:
        found = stream.find(b"\xff", at)
        if found < 0 or found + 1 >= len(stream):
            return None
        following = stream[found + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7:
            at = found + 2
        elif following == 0xFF:
            at = found + 1  # fill bytes: the marker follows
        else:
            return found
