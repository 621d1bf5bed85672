"""Pixel data as arrays to edit and as 8-bit pictures to look at.

The picture a detector sees is not the file's display window: a window hides
text burned in at values outside it (white text on a CT stored at 4095 under
a soft-tissue window is fine, but black text at -2000 over air is not), so
grayscale is stretched between robust percentiles of the whole frame.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut

from deid.dicom_io import drop_pixel_surplus
from deid.native_quiet import native_messages_dropped

COLOUR_INTERPRETATIONS = (
    "RGB",
    "YBR_FULL",
    "YBR_FULL_422",
    "YBR_RCT",
    "YBR_ICT",
    "YBR_PARTIAL_420",
)


@dataclass
class Pixels:
    """All frames of one file, as decoded (palette indices stay indices)."""

    frames: np.ndarray  # (frames, rows, cols) or (frames, rows, cols, 3)
    interpretation: str  # after decoding: YBR comes out as RGB

    @property
    def count(self) -> int:
        return int(self.frames.shape[0])


def decode(ds: Dataset) -> Pixels:
    """The frames; bytes after the last one are removed from `ds` first."""
    drop_pixel_surplus(ds)
    with warnings.catch_warnings(), native_messages_dropped():
        warnings.simplefilter("ignore")
        array = ds.pixel_array  # YBR is converted to RGB by pydicom
    interpretation = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames == 1:
        array = array[None]
    if samples == 3 and interpretation.startswith("YBR"):
        interpretation = "RGB"
    if samples == 1 and array.ndim == 4:
        array = array[..., 0]
    return Pixels(np.ascontiguousarray(array), interpretation)


def _stretch(frame: np.ndarray) -> np.ndarray:
    if frame.dtype.kind in "iu" and frame.dtype.itemsize <= 2:
        return _stretch_integer(frame)
    values = frame.astype(np.float32)
    lo, hi = np.percentile(values[:: max(1, values.shape[0] // 256)], (0.5, 99.5))
    if hi <= lo:
        lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        return np.zeros(frame.shape[:2], np.uint8)
    # Values beyond the percentiles saturate: text is usually drawn there.
    return np.clip((values - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)


def _stretch_integer(frame: np.ndarray) -> np.ndarray:
    """The same stretch for 8/16-bit frames through a histogram and a lookup
    table: no float copy of the frame (every slice of a series pays this)."""
    low = int(frame.min())
    shifted = (frame.astype(np.int32) - low) if low else frame
    counts = np.bincount(shifted[:: max(1, frame.shape[0] // 256)].ravel())
    cumulative = np.cumsum(counts)
    total = int(cumulative[-1])
    lo = int(np.searchsorted(cumulative, 0.005 * total))
    hi = int(np.searchsorted(cumulative, 0.995 * total))
    top = int(shifted.max())
    if hi <= lo:
        lo, hi = 0, top
    if hi <= lo:
        return np.zeros(frame.shape[:2], np.uint8)
    levels = np.arange(top + 1, dtype=np.float32)
    table = np.clip((levels - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)
    return table[shifted]


def picture(ds: Dataset, pixels: Pixels, index: int) -> np.ndarray:
    """One frame as 8-bit RGB (rows, cols, 3) for the detector and OCR."""
    frame = pixels.frames[index]
    if pixels.interpretation == "PALETTE COLOR":
        rgb = apply_color_lut(frame, ds)
        if rgb.dtype != np.uint8:
            rgb = (rgb >> 8).astype(np.uint8) if rgb.max() > 255 else rgb.astype(np.uint8)
        return np.ascontiguousarray(rgb)
    if frame.ndim == 3:
        if frame.dtype == np.uint8:
            return frame
        return np.dstack([_stretch(frame[..., c]) for c in range(3)])
    gray = _stretch(frame)
    if pixels.interpretation == "MONOCHROME1":
        gray = 255 - gray
    return np.dstack([gray, gray, gray])


BRIGHT = 235  # picture level from which anatomy is saturated
MAX_BRIGHT_VIEWS = 4


def bright_views(pixels: Pixels, index: int, rgb: np.ndarray) -> list[tuple[int, int, np.ndarray]]:
    """The brightest areas of a grayscale frame, each stretched between its
    own percentiles, as (x, y, 8-bit RGB crop): the whole-frame stretch
    saturates dense bone, and light text burned over it with it."""
    from deid.cv import cv2

    gray = rgb[..., 0]
    bright = gray >= BRIGHT if pixels.interpretation != "MONOCHROME1" else gray <= 255 - BRIGHT
    if bright.mean() < 0.001:
        return []
    grown = cv2.dilate(bright.astype(np.uint8), np.ones((31, 31), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
    order = sorted(range(1, count), key=lambda i: -int(stats[i][4]))[:MAX_BRIGHT_VIEWS]
    views = []
    frame = pixels.frames[index]
    for i in order:
        x, y, w, h, area = (int(v) for v in stats[i])
        if area < 900:
            break
        crop = frame[y : y + h, x : x + w].astype(np.float32)
        lo, hi = np.percentile(crop, (1, 99.9))
        if hi - lo < 8:
            continue  # flat: nothing drawn on it
        view = np.clip((crop - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)
        if pixels.interpretation == "MONOCHROME1":
            view = 255 - view
        views.append((x, y, np.dstack([view, view, view])))
    return views
