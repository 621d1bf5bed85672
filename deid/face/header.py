"""The few header values the face check needs, read without pydicom's
value conversion.

Every CT/MR/PT file passes through the face check's per-file summary, so
its cost counts on every slice of an archive: pydicom builds a DSfloat per
decimal string and validates it (~0.3 ms for the summary's dozen values).
Raw values are plain ASCII strings or 16-bit integers here, so they are
parsed directly; values pydicom already converted are taken as they are.
"""

from __future__ import annotations

import math

from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

KEYWORDS = (
    "Modality", "SeriesInstanceUID", "BodyPartExamined", "StudyDescription",
    "SeriesDescription", "ProtocolName", "Rows", "Columns", "NumberOfFrames",
    "ImageOrientationPatient", "ImagePositionPatient", "PixelSpacing", "RescaleSlope",
    "RescaleIntercept", "BitsAllocated", "BitsStored", "PixelRepresentation",
    "SamplesPerPixel", "TransferSyntaxUID",
)  # fmt: skip
TAGS = {k: tag_for_keyword(k) for k in KEYWORDS}
US = {"Rows", "Columns", "BitsAllocated", "BitsStored", "PixelRepresentation", "SamplesPerPixel"}


def _raw(ds: Dataset, keyword: str) -> object:
    """The element as stored: pydicom's own dict where it has one (get_item
    costs ~3 us a call in tag normalisation, and the summary makes twenty)."""
    store = getattr(ds, "_dict", None)
    if isinstance(store, dict):
        return store.get(TAGS[keyword])
    try:
        return ds.get_item(TAGS[keyword])
    except Exception:  # noqa: BLE001 - an unreadable element is an absent one here
        return None


def text(ds: Dataset, keyword: str) -> str:
    """A string value ('' when absent); several values joined by backslashes."""
    elem = _raw(ds, keyword)
    if elem is None:
        return ""
    if isinstance(elem, RawDataElement):
        value = elem.value
        if isinstance(value, bytes):
            return value.decode("latin-1").strip(" \x00")
        return ""
    value = getattr(elem, "value", None)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):  # a value kept undecoded (UN): its text, not its byte numbers
        return value.decode("latin-1").strip(" \x00")
    try:
        return "\\".join(str(v) for v in value)  # type: ignore[union-attr]
    except TypeError:
        return str(value)


def integer(ds: Dataset, keyword: str, default: int = 0) -> int:
    elem = _raw(ds, keyword)
    if elem is None:
        return default
    if isinstance(elem, RawDataElement):
        value = elem.value
        if not isinstance(value, bytes) or not value:
            return default
        if keyword in US and elem.VR in ("US", None) and len(value) >= 2:
            return int.from_bytes(value[:2], "little" if elem.is_little_endian else "big")
        try:
            return int(float(value.decode("latin-1").strip(" \x00").split("\\")[0]))
        except ValueError:
            return default
    try:
        return int(elem.value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return default


def floats(ds: Dataset, keyword: str, count: int) -> tuple[float, ...] | None:
    """Exactly `count` decimal values, or None."""
    elem = _raw(ds, keyword)
    if elem is None:
        return None
    try:
        if isinstance(elem, RawDataElement):
            if not isinstance(elem.value, bytes):
                return None
            parts = elem.value.decode("latin-1").strip(" \x00").split("\\")
            out = tuple(float(p) for p in parts)
        else:
            value = elem.value  # type: ignore[union-attr]
            items = [value] if isinstance(value, str | int | float) else list(value)
            out = tuple(float(v) for v in items)
    except (TypeError, ValueError):
        return None
    if len(out) != count or not all(math.isfinite(v) for v in out):
        return None
    return out


def number(ds: Dataset, keyword: str, default: float) -> float:
    values = floats(ds, keyword, 1)
    return values[0] if values else default
