"""Fill redacted pixels and put the pixel data back into the data set.

Only masked pixels change. The file keeps its transfer syntax where a
lossless encoder exists (uncompressed, RLE, JPEG 2000 lossless); otherwise
it is written Explicit VR Little Endian, and the caller reports that.
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import pack_bits
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    RLELossless,
)

from deid.pixels.fragments import drop_offset_tables
from deid.pixels.frames import Pixels

UNCOMPRESSED = {
    ImplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    DeflatedExplicitVRLittleEndian,
}
RE_ENCODABLE = {RLELossless, JPEG2000Lossless}


def fill_value(ds: Dataset, pixels: Pixels) -> np.ndarray | int:
    """The darkest value the image uses (black on screen, not 'air' guessed)."""
    frames = pixels.frames
    if pixels.interpretation == "MONOCHROME1":
        return frames.max()
    if frames.ndim == 4:
        return np.zeros(3, frames.dtype)
    return frames.min()


def apply(pixels: Pixels, masks: dict[int, np.ndarray], value: np.ndarray | int) -> None:
    for index, mask in masks.items():
        pixels.frames[index][mask] = value


def fill_boxes(ds: Dataset, boxes: list[tuple[int, int, int, int]], margin: float) -> str:
    """Fill boxes (x, y, w, h, grown by `margin` of their height) in every
    frame of ds with its darkest value and store the frames back; returns
    the store's note ("" unless the transfer syntax changed)."""
    from deid.pixels import frames

    pixels = frames.decode(ds)
    rows, columns = pixels.frames.shape[1:3]
    mask = np.zeros((rows, columns), bool)
    for x, y, w, h in boxes:
        m = max(2, int(round(h * margin)))
        mask[max(0, y - m) : y + h + m, max(0, x - m) : x + w + m] = True
    apply(pixels, dict.fromkeys(range(pixels.count), mask), fill_value(ds, pixels))
    ts, note = store(ds, pixels, UID(ds.file_meta.TransferSyntaxUID))
    ds.file_meta.TransferSyntaxUID = ts
    return note


def store(ds: Dataset, pixels: Pixels, ts: UID) -> tuple[UID, str]:
    """Write frames back into ds; returns the transfer syntax and a note when it changed."""
    array = pixels.frames if pixels.count > 1 else pixels.frames[0]
    drop_offset_tables(ds)
    ds.PhotometricInterpretation = pixels.interpretation
    if int(ds.get("SamplesPerPixel", 1) or 1) == 3:
        ds.PlanarConfiguration = 0
    if ts in RE_ENCODABLE:
        # Colour in JPEG 2000 lossless goes through the reversible colour
        # transform, which the data set must then name (PS3.5 8.2.4).
        rct = ts == JPEG2000Lossless and pixels.interpretation == "RGB"
        options = {"use_mct": True} if rct else {}
        try:
            ds.compress(ts, array, generate_instance_uid=False, **options)
            if rct:
                ds.PhotometricInterpretation = "YBR_RCT"
            return ts, ""
        except Exception as exc:  # noqa: BLE001 - an encoder refusing is not fatal
            note = f"{ts.name} re-encode failed ({type(exc).__name__}); written uncompressed"
            return _uncompressed(ds, array), note
    if ts in UNCOMPRESSED:
        ds.PixelData = _native(ds, array)
        if ts != ExplicitVRBigEndian:
            return ts, ""
        swap_words_to_little(ds)
        return ExplicitVRLittleEndian, "Explicit VR Big Endian written as Explicit VR Little Endian"
    return _uncompressed(ds, array), (
        f"{ts.name} has no lossless re-encoder here: written Explicit VR Little Endian"
    )


# Word sizes of the binary VRs whose values pydicom keeps as bytes in the
# file's byte order (it does not swap them when the output's order differs).
_WORDS = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}


def swap_words_to_little(ds: Dataset) -> None:
    """Big-endian binary values (palette LUTs, waveform samples...) made
    little-endian, at every depth; the new pixel data is already."""
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value or []:
                swap_words_to_little(item)
        elif elem.VR in _WORDS and elem.tag != 0x7FE00010 and isinstance(elem.value, bytes):
            size = _WORDS[elem.VR]
            if len(elem.value) % size == 0:
                elem.value = np.frombuffer(elem.value, f">u{size}").astype(f"<u{size}").tobytes()


def _native(ds: Dataset, array: np.ndarray) -> bytes:
    """The frames as native pixel data: little endian, and a 1-bit image's
    pixels packed eight to a byte (written a byte each, its pixel data was
    eight times the length its header declares: invalid)."""
    if int(ds.get("BitsAllocated", 0) or 0) == 1:
        return pack_bits(array.astype(np.uint8))
    return np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()


def _uncompressed(ds: Dataset, array: np.ndarray) -> UID:
    ds.PixelData = _native(ds, array)
    ds["PixelData"].VR = "OB" if array.dtype.itemsize == 1 else "OW"
    ds["PixelData"].is_undefined_length = False
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ExplicitVRLittleEndian
