"""Facial relief on the depth maps: where the face is, and what stands out.

A face is recognised by its relief, not by a box a detector draws: a nose
is a narrow ridge standing well in front of the cheeks beside it, the eyes
sit in two hollows under the brows. A cut surface, a face masked away or a
skull-stripped brain has none of that. The same measures place the face
window the defacing evidence and `--deface` work in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deid.cv import cv2
from deid.face.surface import DepthMap
from deid.face.thresholds import Thresholds


def smooth(depth: np.ndarray, sigma_px: float) -> np.ndarray:
    """Gaussian smoothing that ignores cells where no skin is seen."""
    valid = np.isfinite(depth)
    if sigma_px <= 0:
        return depth
    num = cv2.GaussianBlur(np.where(valid, depth, 0).astype(np.float32), (0, 0), sigma_px)
    den = cv2.GaussianBlur(valid.astype(np.float32), (0, 0), sigma_px)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den
    out[~valid] = np.nan
    return out


def ridge(depth: np.ndarray, half: int) -> np.ndarray:
    """How far each cell stands in front of both cells `half` to either side
    (mm; a nose gives 15-25, a forehead's curve 2-4, the edge of a cut 0)."""
    out = np.full(depth.shape, np.nan, np.float32)
    if depth.shape[1] > 2 * half:
        out[:, half:-half] = np.minimum(depth[:, : -2 * half], depth[:, 2 * half :]) - depth[
            :, half:-half
        ]
    return out


def hollow(depth: np.ndarray, half: int) -> np.ndarray:
    """How far each cell lies behind its four neighbours `half` away (eye sockets)."""
    out = np.full(depth.shape, np.nan, np.float32)
    h, w = depth.shape
    if h > 2 * half and w > 2 * half:
        core = depth[half:-half, half:-half]
        around = (
            depth[half:-half, : -2 * half]
            + depth[half:-half, 2 * half :]
            + depth[: -2 * half, half:-half]
            + depth[2 * half :, half:-half]
        ) / 4
        out[half:-half, half:-half] = core - around
    return out


def _max(values: np.ndarray) -> tuple[float, tuple[int, int] | None]:
    if not np.isfinite(values).any():
        return 0.0, None
    flat = int(np.nanargmax(values))
    return float(values.flat[flat]), np.unravel_index(flat, values.shape)  # type: ignore[return-value]


@dataclass
class Face:
    """The face window (rows, cols of the depth map) and its relief."""

    rows: slice
    cols: slice
    core_rows: slice  # nose, eyes and mouth: what every defacing method changes
    core_cols: slice
    nose_mm: float  # the nose ridge in front of the cheeks beside it
    orbits_mm: float  # the shallower of the two eye hollows
    nose: tuple[int, int] | None  # cell of the nose tip, if a nose stands out
    head_top: int  # row of the top of the head
    dome: bool  # the top of the head is inside the images

    def region(self, shape: tuple[int, int]) -> np.ndarray:
        mask = np.zeros(shape, bool)
        mask[self.rows, self.cols] = True
        return mask


def _orbits(holes: np.ndarray, centre: tuple[int, int], mm: float) -> float:
    """The shallower of the two hollows above and beside `centre`."""
    r, c = centre
    top, bottom = max(0, r - int(55 / mm)), max(0, r - int(15 / mm))
    sides = []
    for lo, hi in ((c - int(50 / mm), c - int(12 / mm)), (c + int(12 / mm), c + int(50 / mm))):
        part = holes[top:bottom, max(0, lo) : max(0, hi)]
        sides.append(_max(part)[0] if part.size else 0.0)
    return float(min(sides))


@dataclass
class Relief:
    """The smoothed depth map with its nose-ridge and eye-hollow maps (mm)."""

    mm: float
    nose: np.ndarray
    holes: np.ndarray

    @classmethod
    def of(cls, front: DepthMap, t: Thresholds) -> Relief:
        depth = smooth(front.depth, 1.5 / front.mm)
        nose = ridge(depth, int(round(t.nose_half_width_mm / front.mm)))
        holes = hollow(depth, int(round(t.orbit_half_width_mm / front.mm)))
        return cls(front.mm, nose, holes)


def locate(front: DepthMap, relief: Relief, t: Thresholds) -> Face:
    """Find the nose (if any) and place the face window around it, or where
    a face sits on a head of average proportions."""
    mm = front.mm
    valid = np.isfinite(front.depth)
    rows_any = np.nonzero(valid.any(axis=1))[0]
    top = int(rows_any[0]) if rows_any.size else 0
    dome = front.z1 - top * mm < front.z_top - 3.0
    lo = top + int(t.nose_below_top_mm[0] / mm) if dome else 0
    hi = top + int(t.nose_below_top_mm[1] / mm) if dome else valid.shape[0]
    cols_any = np.nonzero(valid[lo:hi].any(axis=0))[0]
    if cols_any.size == 0:
        cols_any = np.array([0, valid.shape[1] - 1])
    c0, c1 = int(cols_any[0]), int(cols_any[-1])
    margin = (c1 - c0) // 4
    nose_mm, at = _max(relief.nose[lo:hi, c0 + margin : c1 - margin + 1])
    if at is not None and nose_mm >= t.nose_relief_mm:
        centre = (lo + at[0], c0 + margin + at[1])
        nose: tuple[int, int] | None = centre
    else:
        nose = None
        row = top + int(t.face_below_top_mm / mm) if dome else (lo + hi) // 2
        centre = (row, (c0 + c1) // 2)
    rows = slice(max(0, centre[0] - int(t.face_above_nose_mm / mm)), centre[0] + int(70 / mm))
    half = int(t.face_half_width_mm / mm)
    cols = slice(max(0, centre[1] - half), centre[1] + half + 1)
    core = int(t.core_half_mm / mm)
    core_rows = slice(max(0, centre[0] - core), centre[0] + core + 1)
    core_cols = slice(max(0, centre[1] - core), centre[1] + core + 1)
    orbits = _orbits(relief.holes, centre, mm)
    return Face(
        rows, cols, core_rows, core_cols, round(nose_mm, 1), round(orbits, 1), nose, top, dome
    )


def confirm(box: tuple[int, int, int, int], relief: Relief, t: Thresholds) -> dict | None:
    """Relief inside a detector's box: a nose ridge in its middle and an eye
    hollow on each side above it. A cut surface or a skull has neither."""
    x, y, w, h = box
    middle = relief.nose[y + h * 3 // 10 : y + h * 8 // 10, x + w * 3 // 10 : x + w * 7 // 10]
    nose_mm, at = _max(middle)
    if at is None or nose_mm < t.nose_relief_mm:
        return None
    centre = (y + h * 3 // 10 + at[0], x + w * 3 // 10 + at[1])
    orbits = _orbits(relief.holes, centre, relief.mm)
    if orbits < t.orbit_depth_mm:
        return None
    return {"nose_mm": round(nose_mm, 1), "orbits_mm": round(orbits, 1)}


def planar_share(depth: np.ndarray, tolerance: float) -> float:
    """Share of the window within `tolerance` mm of one plane (robust fit):
    a quickshear cut leaves most of the face on a plane, a face never does."""
    rows, cols = np.nonzero(np.isfinite(depth))
    if rows.size < 50:
        return 0.0
    y = depth[rows, cols].astype(np.float64)
    a = np.stack([np.ones_like(y), rows, cols], axis=1).astype(np.float64)
    keep = np.ones(y.size, bool)
    for _ in range(3):
        coef, *_ = np.linalg.lstsq(a[keep], y[keep], rcond=None)
        residual = np.abs(a @ coef - y)
        keep = residual < max(3 * tolerance, 1e-3)
        if keep.sum() < 10:
            break
    return float((residual < tolerance).mean())


def detail(
    position: np.ndarray, rays: np.ndarray, spacing: tuple[float, float], step: float
) -> float:
    """Median fine surface detail (mm) of the selected rays' hits: what
    blurring takes away. Measured on the rays themselves (hit position along
    each ray), where no resampling adds detail of its own."""
    valid = np.isfinite(position)
    num = np.where(valid, position, 0).astype(np.float32)
    sx, sy = 2.0 / spacing[1], 2.0 / spacing[0]
    blur = cv2.GaussianBlur(num, (0, 0), sigmaX=sx, sigmaY=sy)
    weight = cv2.GaussianBlur(valid.astype(np.float32), (0, 0), sigmaX=sx, sigmaY=sy)
    with np.errstate(invalid="ignore", divide="ignore"):
        fine = position - blur / weight
    inner = cv2.erode(valid.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    values = np.abs(fine[inner & rays & np.isfinite(fine)])
    return float(np.median(values)) * step if values.size else 0.0
