"""Per-file geometry summaries and series assembly.

The per-file step keeps only what is needed to put slices in order, judge
coverage and find the pixel bytes again (a few numbers per file); pixels
are read again, one series at a time, only for series that pass the
metadata gates, and then only at the resolution the check needs.
"""

from __future__ import annotations

import unicodedata
from contextlib import suppress
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from deid.face import header

# (offset, bytes, numpy dtype, bits stored, declared element length)
Pixels = tuple[int, int, str, int, int]
PIXEL_DATA = 0x7FE00010
ENDS_FILE = -1  # pixel data offset: the element's value ends the file
PER_FRAME = 0x52009230  # PerFrameFunctionalGroupsSequence
NATIVE = {ImplicitVRLittleEndian: "<", ExplicitVRLittleEndian: "<", ExplicitVRBigEndian: ">"}
DESCRIPTIVE = ("BodyPartExamined", "StudyDescription", "SeriesDescription", "ProtocolName")


# Of each value, the start: LO holds 64 characters, and a megabyte of text
# (kept for every slice of a series, folded) cost a run seconds and memory.
_WORDS_KEPT = 1024


def descriptive_words(ds: Dataset) -> str:
    """Body part and descriptions, upper case and without accents (SCHÄDEL
    as SCHADEL, TÊTE as TETE): where a series says what it shows."""
    values = (header.text(ds, k)[:_WORDS_KEPT] for k in DESCRIPTIVE)
    return _folded(" ".join(values))[: 4 * _WORDS_KEPT].upper()


def _folded(text: str) -> str:
    """Letters without their accents. Raw values are read as Latin-1: UTF-8
    bytes among them are read as what they are first."""
    if not text.isascii():
        with suppress(UnicodeError):
            text = text.encode("latin-1").decode("utf-8")
        text = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in text if not unicodedata.combining(c))
    return text


def _floats(value: object, count: int) -> tuple[float, ...] | None:
    try:
        out = tuple(float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        return None
    return out if len(out) == count else None


def pixel_location(ds: Dataset, frames: int) -> Pixels | None:
    """Where the uncompressed pixel bytes sit in the file: (offset, bytes,
    numpy dtype, bits stored, the element's declared length), so the series
    step reads them without parsing the file again. None for compressed,
    deflated or colour pixel data (pydicom decodes those when needed).

    The offset is the parser's, raw or decoded (pydicom keeps it as
    file_tell; deid.dicom_io maps it to the file when private elements
    were cut before parsing); otherwise pixel data that ends the file starts
    its length before the end (ENDS_FILE: the reader finds that end). The
    reader checks the declared length just before the offset and falls back
    to pydicom when it differs."""
    meta = getattr(ds, "file_meta", None)
    order = NATIVE.get(header.text(meta, "TransferSyntaxUID") if meta is not None else "")
    try:
        elem = ds.get_item(PIXEL_DATA)
    except Exception:  # noqa: BLE001 - unreadable: pydicom decodes it later, or fails there
        return None
    bits = header.integer(ds, "BitsAllocated")
    stored = header.integer(ds, "BitsStored", bits) or bits
    signed = header.integer(ds, "PixelRepresentation") == 1
    samples = header.integer(ds, "SamplesPerPixel", 1)
    size = header.integer(ds, "Rows") * header.integer(ds, "Columns") * frames
    if elem is None or order is None or samples != 1 or bits not in (8, 16, 32):
        return None
    tell = getattr(elem, "value_tell", None)
    declared = getattr(elem, "length", None)
    value = getattr(elem, "value", None)
    if tell is None and getattr(elem, "file_tell", None) is not None and isinstance(value, bytes):
        tell, declared = elem.file_tell, len(value)  # decoded: pydicom keeps where it was
    if tell is None:
        if not isinstance(value, bytes) or next(reversed(ds.keys())) != elem.tag:
            return None
        tell, declared = ENDS_FILE, len(value)
    length = size * bits // 8
    if not length or not isinstance(declared, int) or declared < length:
        return None
    kind = "i" if signed else "u"
    return int(tell), length, f"{order if bits > 8 else '|'}{kind}{bits // 8}", stored, declared


def rescale(ds: Dataset) -> tuple[float, float]:
    """(slope, intercept) of the first frame: stored values to units (HU on
    CT). An enhanced image keeps them in its functional groups (Pixel Value
    Transformation), per frame or shared: read at the top level only, a
    CT's air was taken for 0 HU, the whole field of view for body, and a
    head for no head. An empty or unreadable value is no value."""
    return frame_rescales(ds, 1)[0]


def frame_rescales(ds: Dataset, frames: int) -> list[tuple[float, float]]:
    """(slope, intercept) of each frame that has a per-frame item (its own
    group's, else the shared group's, else the top level's, else (1, 0)),
    then the fallback once for frames beyond them: never a list as long as
    a NumberOfFrames the file merely claims. Look up with `scale_of`."""
    shared = _transform(_first(_items(ds, "SharedFunctionalGroupsSequence")))
    fallback = shared or _scale(ds) or (1.0, 0.0)
    per_frame = _items(ds, "PerFrameFunctionalGroupsSequence")[:frames] if PER_FRAME in ds else []
    scales = [_transform(item) or fallback for item in per_frame]
    return scales if len(scales) >= frames else [*scales, fallback]


def scale_of(scales: list[tuple[float, float]] | tuple, frame: int) -> tuple[float, float]:
    return scales[min(frame, len(scales) - 1)]


def _first(items: list[Dataset]) -> Dataset | None:
    return items[0] if items else None


def _transform(group: Dataset | None) -> tuple[float, float] | None:
    if group is None:
        return None
    return _scale(_first(_items(group, "PixelValueTransformationSequence")))


def _scale(group: Dataset | None) -> tuple[float, float] | None:
    if group is None:
        return None
    intercept = header.floats(group, "RescaleIntercept", 1)
    if intercept is None:
        return None
    slope = header.floats(group, "RescaleSlope", 1)
    return (slope[0] if slope and slope[0] else 1.0), intercept[0]


def _items(ds: Dataset, keyword: str) -> list[Dataset]:
    try:
        return list(ds.get(keyword) or [])
    except Exception:  # noqa: BLE001 - an unreadable sequence is an absent one here
        return []


def _enhanced(
    ds: Dataset,
    orientation: tuple[float, ...] | None,
    spacing: tuple[float, ...] | None,
    positions: list[tuple[float, ...]],
) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
    """Enhanced multi-frame: per-frame positions, one orientation and spacing
    (from the per-frame or shared functional groups)."""
    shared = ds.get("SharedFunctionalGroupsSequence")
    for i, item in enumerate(ds.get("PerFrameFunctionalGroupsSequence", []) or []):
        plane = item.get("PlanePositionSequence")
        if plane:
            p = _floats(plane[0].get("ImagePositionPatient"), 3)
            if p:
                positions.append(p)
        for group in (item, shared[0] if shared else None):
            if group is None:
                continue
            if orientation is None and group.get("PlaneOrientationSequence"):
                orientation = _floats(
                    group.PlaneOrientationSequence[0].get("ImageOrientationPatient"), 6
                )
            if spacing is None and group.get("PixelMeasuresSequence"):
                spacing = _floats(group.PixelMeasuresSequence[0].get("PixelSpacing"), 2)
        if i > 4096:
            break
    return orientation, spacing


@dataclass(frozen=True)
class SliceGeometry:
    path: str
    series: str
    modality: str
    words: str  # body part and descriptions, upper case
    rows: int
    columns: int
    frames: int
    orientation: tuple[float, ...] | None  # ImageOrientationPatient (6)
    position: tuple[float, ...] | None  # ImagePositionPatient (3)
    spacing: tuple[float, ...] | None  # PixelSpacing (row, column)
    # Enhanced multi-frame: per-frame positions (and one orientation/spacing)
    frame_positions: tuple[tuple[float, ...], ...] = ()
    pixels: Pixels | None = None  # where uncompressed pixel data sits in the file
    slope: float = 1.0  # RescaleSlope / Intercept: stored value -> HU on CT
    intercept: float = 0.0
    # Enhanced multi-frame whose frames rescale differently: (slope, intercept) each
    frame_scales: tuple[tuple[float, float], ...] = ()

    @classmethod
    def from_dataset(cls, ds: Dataset, path: str) -> SliceGeometry:
        """Read from raw values (deid/face/header.py): every CT/MR/PT file pays this."""
        orientation = header.floats(ds, "ImageOrientationPatient", 6)
        position = header.floats(ds, "ImagePositionPatient", 3)
        spacing = header.floats(ds, "PixelSpacing", 2)
        frame_positions: list[tuple[float, ...]] = []
        if PER_FRAME in ds:
            orientation, spacing = _enhanced(ds, orientation, spacing, frame_positions)
        frames = max(1, header.integer(ds, "NumberOfFrames", 1))
        scales = frame_rescales(ds, frames)
        return cls(
            path,
            header.text(ds, "SeriesInstanceUID"),
            header.text(ds, "Modality").upper(),
            descriptive_words(ds),
            header.integer(ds, "Rows"),
            header.integer(ds, "Columns"),
            frames,
            orientation,
            position,
            spacing,
            tuple(frame_positions),
            pixel_location(ds, frames),
            *scales[0],
            tuple(scales) if len(set(scales)) > 1 else (),
        )

    def scale(self, frame: int) -> tuple[float, float]:
        """(slope, intercept) of one frame."""
        if self.frame_scales:
            return scale_of(self.frame_scales, frame)
        return self.slope, self.intercept

    def to_record(self) -> list[Any]:
        """Plain JSON values, for the on-disk series spool."""
        return [getattr(self, name) for name in _FIELDS]

    @classmethod
    def from_record(cls, record: list[Any]) -> SliceGeometry:
        values = dict(zip(_FIELDS, record, strict=True))
        for name in ("orientation", "position", "spacing"):
            if values[name] is not None:
                values[name] = tuple(values[name])
        values["frame_positions"] = tuple(tuple(p) for p in values["frame_positions"])
        values["frame_scales"] = tuple(tuple(p) for p in values["frame_scales"])
        if values["pixels"] is not None:
            values["pixels"] = tuple(values["pixels"])
        return cls(**values)


_FIELDS = tuple(f.name for f in fields(SliceGeometry))


@dataclass
class Series:
    uid: str
    modality: str
    words: str
    slices: list[SliceGeometry] = field(default_factory=list)

    def add(self, item: SliceGeometry) -> None:
        self.slices.append(item)


@dataclass(frozen=True)
class Layout:
    """The series' slices in order along their normal, or why not."""

    ok: bool
    problem: str = ""
    order: tuple[tuple[str, int], ...] = ()  # (path, frame) from one end to the other
    sources: tuple[SliceGeometry, ...] = ()  # the file summary of each entry of `order`
    positions: np.ndarray | None = None  # (n, 3) patient mm
    row_dir: np.ndarray | None = None
    col_dir: np.ndarray | None = None
    normal: np.ndarray | None = None
    spacing: tuple[float, float] = (0.0, 0.0)  # row, column pixel spacing
    slice_spacing: float = 0.0
    rows: int = 0
    columns: int = 0
    filled: int = 0  # missing slices stood in for by a neighbour


def layout(series: Series) -> Layout:
    items: list[tuple[SliceGeometry, int, tuple[float, ...]]] = []
    orientation = spacing = None
    rows = columns = 0
    for s in series.slices:
        if s.orientation is None or s.spacing is None:
            return Layout(False, "slices without ImageOrientationPatient or PixelSpacing")
        if orientation is None:
            orientation, spacing, rows, columns = s.orientation, s.spacing, s.rows, s.columns
        elif (s.orientation, s.spacing, s.rows, s.columns) == (orientation, spacing, rows, columns):
            pass  # the usual case, without numpy per slice
        elif (
            not np.allclose(s.orientation, orientation, atol=1e-3)
            or not np.allclose(s.spacing, spacing, atol=1e-3)
            or (s.rows, s.columns) != (rows, columns)
        ):
            return Layout(False, "slices differ in orientation, pixel spacing or size")
        if s.frame_positions:
            items += [(s, i, p) for i, p in enumerate(s.frame_positions)]
        elif s.position is not None:
            items.append((s, 0, s.position))
        else:
            return Layout(False, "slices without ImagePositionPatient")
    if orientation is None or spacing is None or len(items) < 2:
        return Layout(False, "fewer than two positioned slices")
    row_dir = np.array(orientation[:3])
    col_dir = np.array(orientation[3:])
    normal = np.cross(row_dir, col_dir)
    if np.linalg.norm(normal) < 0.5:
        return Layout(False, "ImageOrientationPatient is not two perpendicular directions")
    normal /= np.linalg.norm(normal)
    with np.errstate(over="ignore", invalid="ignore"):
        distances = np.array([t[2] for t in items]) @ normal
    if not np.isfinite(distances).all():
        return Layout(False, "slice positions too far out to put in order")
    ranked = np.argsort(distances, kind="stable")
    items = [items[i] for i in ranked]
    positions = np.array([t[2] for t in items])
    distances = distances[ranked]
    steps = np.diff(distances)
    if (steps < 1e-3).any():
        kept = _one_per_position(steps)
        if kept is None:
            return Layout(False, "two slices at the same position")
        items, positions, distances = [items[i] for i in kept], positions[kept], distances[kept]
        steps = np.diff(distances)
    step = float(np.median(steps))
    filled = 0
    if steps.max() > 1.5 * step + 0.1:
        stood_in = _stand_ins(items, positions, steps, step)
        if stood_in is None:
            return Layout(False, f"gap in the series (largest step {steps.max():.4g} mm)")
        items, positions = stood_in
        filled = len(items) - len(steps) - 1
    return Layout(
        True,
        filled=filled,
        order=tuple((s.path, f) for s, f, _ in items),
        sources=tuple(s for s, _, _ in items),
        positions=positions,
        row_dir=row_dir,
        col_dir=col_dir,
        normal=normal,
        spacing=(float(spacing[0]), float(spacing[1])),
        slice_spacing=step,
        rows=rows,
        columns=columns,
    )


# Slices missing from a series (lost in transfer, left out by a viewer's
# export): a few in a gap are stood in for by their nearer neighbour, at the
# position they would have had. At the 1 mm render a repeated slice of a few
# mm does not change the surface; a series that cannot be judged for one
# lost slice left a head unjudged. Larger gaps are two series, or a slab.
_MAX_MISSING_IN_A_GAP = 3
_MAX_MISSING_SHARE = 0.1
_MAX_HOLE_MM = 10.0  # at 8 mm spacing three missing slices were a 32 mm hole


def _stand_ins(
    items: list, positions: np.ndarray, steps: np.ndarray, step: float
) -> tuple[list, np.ndarray] | None:
    """The order with each missing slice's nearer neighbour in its place, or
    None where the gaps are not whole missing slices, or too many."""
    out_items, out_positions, missing = [items[0]], [positions[0]], 0
    for i, gap in enumerate(steps):
        lost = int(round(gap / step)) - 1
        if lost < 0 or lost > _MAX_MISSING_IN_A_GAP or abs(gap - (lost + 1) * step) > step / 4:
            return None  # near-duplicate slices beside a gap, or not whole slices
        if lost and gap > _MAX_HOLE_MM:
            return None  # a hole wide enough to take a nose or an eye out of the face
        for k in range(1, lost + 1):
            near = items[i] if k <= lost / 2 else items[i + 1]
            out_items.append(near)
            out_positions.append(positions[i] + (positions[i + 1] - positions[i]) * k / (lost + 1))
        missing += lost
        out_items.append(items[i + 1])
        out_positions.append(positions[i + 1])
    if missing > max(_MAX_MISSING_IN_A_GAP, _MAX_MISSING_SHARE * len(items)):
        return None
    return out_items, np.array(out_positions)


def _one_per_position(steps: np.ndarray) -> list[int] | None:
    """A stack imaged several times over (echoes, time points, b-values:
    every position the same number of times): the first image at each
    position, in the series' order. None where positions repeat unevenly."""
    starts = [0] + [i + 1 for i, step in enumerate(steps) if step >= 1e-3]
    sizes = {b - a for a, b in zip(starts, starts[1:] + [len(steps) + 1], strict=True)}
    if len(sizes) != 1 or len(starts) < 2:
        return None
    return starts


def extent(lay: Layout) -> np.ndarray:
    """Patient-axis extent (x L-R, y A-P, z S-I) in mm of the imaged box."""
    assert lay.positions is not None and lay.row_dir is not None and lay.col_dir is not None
    corners = []
    for p in (lay.positions[0], lay.positions[-1]):
        for r in (0, lay.rows - 1):
            for c in (0, lay.columns - 1):
                corners.append(
                    p + c * lay.spacing[1] * lay.row_dir + r * lay.spacing[0] * lay.col_dir
                )
    pts = np.array(corners)
    return pts.max(axis=0) - pts.min(axis=0)
