"""Bits of native pixel data above BitsStored: no part of the image.

A 16-bit pixel with BitsStored 12 has four bits no viewer shows as image
and no decoder hands the text detector. Old equipment drew overlays there
(the retired embedded overlay, OverlayBitPosition 12), and anything can be:
a patient's name and birth date written in bit 12 went to the output
byte for byte, marked BurnedInAnnotation NO. A run clears them (the image's
values do not change); a scan reports them.

Signed images may carry their sign into those bits (-1000 stored as 0xFC18
in 16 bits): that is the value, not hidden data, and is left as it is, as
are bits all zero.
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRBigEndian

from deid.dicom_io import native_pixel_bytes, transfer_syntax
from deid.risk.findings import Finding, Severity


def _layout(ds: Dataset) -> tuple[np.dtype, int, bool] | None:
    """The pixel cell's type, the stored bits and whether signed, where
    bits above the stored ones exist in native pixel data; else None."""
    if "PixelData" not in ds or native_pixel_bytes(ds) is None:
        return None
    try:
        allocated, stored = int(ds.BitsAllocated), int(ds.BitsStored)
        high, signed = int(ds.HighBit), int(ds.get("PixelRepresentation", 0) or 0) == 1
    except (AttributeError, TypeError, ValueError):
        return None
    if allocated not in (8, 16, 32) or not 0 < stored < allocated or high != stored - 1:
        return None
    order = ">" if transfer_syntax(ds) == ExplicitVRBigEndian else "<"
    return np.dtype(f"{order}u{allocated // 8}"), stored, signed


def _cells(ds: Dataset, cell: np.dtype) -> np.ndarray:
    data = ds.PixelData or b""
    usable = len(data) - len(data) % cell.itemsize
    return np.frombuffer(data, cell, usable // cell.itemsize)


def _expected(cells: np.ndarray, stored: int, signed: bool) -> np.ndarray:
    """Each cell with nothing above its stored bits but its sign."""
    mask = cells.dtype.type((1 << stored) - 1)
    values = cells & mask
    if not signed:
        return values
    negative = (values >> (stored - 1)) & 1 == 1
    extended = np.where(negative, values | ~mask, values)
    zeroed_sign = (cells & ~mask) == 0
    return np.where(zeroed_sign, cells, extended)


def count(ds: Dataset) -> int:
    """How many pixel cells hold bits above BitsStored other than their sign."""
    return _check(ds, write=False)


def clear(ds: Dataset) -> int:
    """Clear them in `ds` (a signed cell keeps its sign); how many cells held
    them. Pixel data without any is left byte for byte."""
    return _check(ds, write=True)


def _check(ds: Dataset, write: bool) -> int:
    layout = _layout(ds)
    if layout is None:
        return 0
    cell, stored, signed = layout
    cells = _cells(ds, cell)
    above = cells.dtype.type(np.iinfo(cells.dtype).max ^ ((1 << stored) - 1))
    if not (cells & above).any():
        return 0  # nothing above the stored bits: most images, at the cost of one pass
    expected = _expected(cells, stored, signed)
    changed = int(np.count_nonzero(cells != expected))
    if changed and write:
        tail = (ds.PixelData or b"")[expected.nbytes :]
        ds.PixelData = expected.astype(cell).tobytes() + tail
    return changed


def finding(held: int, label: str, severity: Severity, action: str) -> Finding:
    """`held` cells with such bits, as a run (cleared) and a scan report them."""
    message = (
        f"{held} pixel(s) held bits above BitsStored (an embedded overlay, or hidden data): "
        "no part of the image, never examined"
    )
    return Finding("pixels.unused-bits", severity, message, label, "PixelData", action)
