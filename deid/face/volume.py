"""A series' pixels on a reduced grid, read slice by slice.

The face check works at the render's resolution (1 mm) and the head gate at
a few millimetres, so a 512x512 CT slice at 0.5 mm is reduced to a quarter
of its pixels as it is read, slices closer than the grid are skipped, and
the full-resolution series is never held. Uncompressed pixel data is read
straight from the byte offset the per-file step recorded (no second parse
of the header); other files are decoded by pydicom, one at a time.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import numpy as np
import pydicom

from deid.cv import cv2
from deid.face.geometry import ENDS_FILE, Layout, SliceGeometry, frame_rescales, scale_of
from deid.native_quiet import native_messages_dropped
from deid.paths import open_regular


@dataclass
class Grid:
    """Slices on a regular grid in patient space (LPS, mm).

    `data` holds stored values when every slice shares one rescale (then
    `slope`/`intercept` turn them into units: HU on CT), else values already
    in units (float32, slope 1, intercept 0).
    """

    data: np.ndarray  # (slices, rows, cols)
    origin: np.ndarray  # patient position of voxel (0, 0, 0)
    step: np.ndarray  # patient vector from one slice to the next
    row_dir: np.ndarray  # along a row (increasing column)
    col_dir: np.ndarray  # down a column (increasing row)
    spacing: tuple[float, float]  # mm between rows, between columns
    slope: float = 1.0
    intercept: float = 0.0

    @property
    def slice_spacing(self) -> float:
        return float(np.linalg.norm(self.step))

    def axes(self) -> np.ndarray:
        """Patient vector per voxel index step: rows of (slice, row, column)."""
        return np.array(
            [self.step, self.col_dir * self.spacing[0], self.row_dir * self.spacing[1]]
        )

    def axes_mm(self) -> np.ndarray:
        """mm per voxel step along (slice, row, column)."""
        return np.linalg.norm(self.axes(), axis=1)

    def to_patient(self, index: np.ndarray) -> np.ndarray:
        """(..., 3) voxel indices (fractions allowed) -> (..., 3) patient mm."""
        axes = self.axes()
        out = np.empty(index.shape, np.float64)
        for k in range(3):  # three multiply-adds per axis: far cheaper than matmul at 3x3
            out[..., k] = (
                self.origin[k]
                + index[..., 0] * axes[0, k]
                + index[..., 1] * axes[1, k]
                + index[..., 2] * axes[2, k]
            )
        return out

    def to_index(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) patient mm -> (..., 3) fractional voxel indices."""
        return (points - self.origin) @ np.linalg.inv(self.axes())

    def raw(self, value: float) -> float:
        """A value in units (HU) as the stored values express it."""
        return (value - self.intercept) / self.slope

    def units(self, raw: np.ndarray | float) -> np.ndarray | float:
        return raw * self.slope + self.intercept

    def axis_along(self, direction: np.ndarray) -> tuple[int, int]:
        """The voxel axis closest to a patient direction, and its sign there."""
        axes = self.axes()
        unit = axes / np.linalg.norm(axes, axis=1, keepdims=True)
        cos = unit @ direction
        axis = int(np.argmax(np.abs(cos)))
        return axis, 1 if cos[axis] > 0 else -1


class _Reader:
    """Frames of one file after another; one decoded file in memory at most."""

    def __init__(self) -> None:
        self._decoded: tuple[str, np.ndarray, list[tuple[float, float]]] | None = None

    def frame(self, source: SliceGeometry, frame: int) -> tuple[np.ndarray, float, float]:
        """(stored values, slope, intercept) of one frame."""
        if source.pixels is not None:
            data = _native(source, frame)
            if data is not None:
                offset, length, dtype, stored, _ = source.pixels
                array = np.frombuffer(data, dtype).reshape(source.rows, source.columns)
                return _bits(array, stored), *source.scale(frame)
        if self._decoded is None or self._decoded[0] != source.path:
            with warnings.catch_warnings(), native_messages_dropped():
                warnings.simplefilter("ignore")
                with open_regular(source.path) as fh:
                    ds = pydicom.dcmread(fh)
                    array = ds.pixel_array
            array = array if array.ndim == 3 else array[None]
            self._decoded = (source.path, array, frame_rescales(ds, len(array)))
        return self._decoded[1][frame], *scale_of(self._decoded[2], frame)


def _native(source: SliceGeometry, frame: int) -> bytes | None:
    """One frame's bytes from the recorded offset, if the element's declared
    length sits just before it (else the file changed: decode it instead)."""
    assert source.pixels is not None
    offset, length, dtype, _, declared = source.pixels
    size = length // max(source.frames, 1)
    try:
        fh = open_regular(source.path)  # a pipe in its place would block
    except OSError:
        return None
    with fh:
        fd = fh.fileno()
        if offset == ENDS_FILE:
            offset = os.fstat(fd).st_size - declared
        prefix = os.pread(fd, 4, offset - 4) if offset >= 4 else b""
        data = os.pread(fd, size, offset + frame * size)
    order = "big" if dtype[0] == ">" else "little"
    if len(prefix) != 4 or int.from_bytes(prefix, order) != declared or len(data) != size:
        return None
    return data


def _bits(array: np.ndarray, stored: int) -> np.ndarray:
    """Drop bits above BitsStored (old files keep overlays there)."""
    bits = array.dtype.itemsize * 8
    if stored >= bits or stored <= 0:
        return array
    if array.dtype.kind == "u":
        return array & ((1 << stored) - 1)
    shift = bits - stored
    return (array << shift) >> shift


def _shrink(image: np.ndarray, rows: int, cols: int) -> np.ndarray:
    if image.dtype not in (np.uint8, np.uint16, np.int16, np.float32):
        image = image.astype(np.float32)
    if image.shape == (rows, cols):
        return image
    return cv2.resize(image, (cols, rows), interpolation=cv2.INTER_AREA)


def read(
    lay: Layout, target_mm: float, max_slices: int | None = None, sample: bool = False
) -> Grid:
    """The series at about `target_mm` per voxel (never finer than stored).

    Slices are taken every k-th so their spacing is near the target (and
    at most `max_slices` of them); each is reduced in plane by area
    averaging, which also lowers noise the way a coarser scan would, or,
    with `sample`, by taking every k-th pixel (the gate's quick look).
    """
    assert lay.positions is not None and lay.row_dir is not None and lay.col_dir is not None
    count = len(lay.order)
    every = max(1, int(round(target_mm / max(lay.slice_spacing, 1e-3))))
    if max_slices:
        every = max(every, -(-count // max_slices))
    picked = list(range(0, count, every))
    fr = max(1.0, target_mm / lay.spacing[0])
    fc = max(1.0, target_mm / lay.spacing[1])
    if sample:
        fr, fc = float(int(fr)), float(int(fc))
    rows = max(1, int(round(lay.rows / fr)))
    cols = max(1, int(round(lay.columns / fc)))
    reader = _Reader()
    slabs, scales = [], []
    for index in picked:
        array, slope, intercept = reader.frame(lay.sources[index], lay.order[index][1])
        if sample:
            slabs.append(array[: rows * int(fr) : int(fr), : cols * int(fc) : int(fc)])
        else:
            slabs.append(_shrink(array, rows, cols))
        scales.append((slope, intercept))
    data = np.stack(slabs)
    slope, intercept = scales[0]
    if len(set(scales)) > 1:
        data = data.astype(np.float32)
        for i, (s, b) in enumerate(scales):
            data[i] = data[i] * s + b
        slope, intercept = 1.0, 0.0
    if sample:  # pixel i is input pixel i * f
        spacing = (lay.spacing[0] * fr, lay.spacing[1] * fc)
        shift = np.zeros(3)
    else:
        spacing = (lay.spacing[0] * lay.rows / rows, lay.spacing[1] * lay.columns / cols)
        # Area averaging centres output pixel i at input position (i + 0.5) * f - 0.5.
        shift = (
            (lay.columns / cols - 1) / 2 * lay.spacing[1] * lay.row_dir
            + (lay.rows / rows - 1) / 2 * lay.spacing[0] * lay.col_dir
        )
    positions = lay.positions[picked]
    step = _regular_step(positions, every * lay.slice_spacing, lay.normal)
    return Grid(
        data,
        positions[0] + shift,
        step,
        lay.row_dir,
        lay.col_dir,
        spacing,
        slope,
        intercept,
    )


def _regular_step(positions: np.ndarray, spacing: float, normal: np.ndarray | None) -> np.ndarray:
    """The slice-to-slice vector (a tilted gantry shifts origins in plane too)."""
    if len(positions) < 2:
        return np.asarray(normal, float) * spacing
    index = np.arange(len(positions), dtype=float)
    centred = index - index.mean()
    return (centred[:, None] * (positions - positions.mean(axis=0))).sum(axis=0) / (
        centred**2
    ).sum()
