"""The skin surface seen from the front and from the back.

A face render only needs where each line of sight from the front first
meets skin. Lines of sight run along the voxel axis closest to the
anterior direction (exactly anterior for axial, sagittal and coronal
series), so the first hit is one argmax per ray instead of a 3-D surface
extraction, and is refined between voxels by the threshold crossing. The
body is the largest connected component, found on a coarse copy (noise
specks, the CT head holder and MR ghosts are not the body).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from deid.cv import cv2
from deid.face.volume import Grid

ANTERIOR = np.array([0.0, -1.0, 0.0])  # LPS: y grows to the patient's back


def body_mask(grid: Grid, thr: float, coarse_mm: float) -> np.ndarray:
    """Voxels above the skin threshold that belong to the largest body."""
    data = grid.data
    mask = data > thr
    f = [max(1, int(round(coarse_mm / s))) for s in (grid.slice_spacing, *grid.spacing)]
    coarse = data[:: f[0], :: f[1], :: f[2]] > thr
    labels, count = ndimage.label(coarse)
    if count <= 1:
        return mask
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    keep = ndimage.binary_dilation(labels == int(sizes.argmax()), iterations=1)
    for axis, k in enumerate(f):
        keep = np.repeat(keep, k, axis=axis)
    mask &= keep[: data.shape[0], : data.shape[1], : data.shape[2]]
    return mask


@dataclass
class Surface:
    """First skin hits along rays, from the front and from the back.

    Rays run along voxel axis `axis`; `view` and `inside` are the volume and
    mask with that axis last and index 0 at the anterior end. `front` and
    `back` are hit positions (fractional index in that order; NaN: no hit).
    """

    grid: Grid
    axis: int
    flipped: bool
    view: np.ndarray
    inside: np.ndarray
    front: np.ndarray
    back: np.ndarray
    threshold: float

    @classmethod
    def find(cls, grid: Grid, mask: np.ndarray, thr: float) -> Surface:
        axis, sign = grid.axis_along(ANTERIOR)
        view = np.moveaxis(grid.data, axis, -1)
        inside = np.moveaxis(mask, axis, -1)
        flipped = sign > 0  # index 0 must be the anterior end
        if flipped:
            view, inside = view[..., ::-1], inside[..., ::-1]
        front = _first(view, inside, thr)
        back_view, back_inside = view[..., ::-1], inside[..., ::-1]
        back = view.shape[-1] - 1 - _first(back_view, back_inside, thr)
        return cls(grid, axis, flipped, view, inside, front, back, thr)

    def points(self, which: str) -> np.ndarray:
        """(a, b, 3) patient mm of the hits (NaN where a ray meets no skin)."""
        pos = self.front if which == "front" else self.back
        length = self.view.shape[-1]
        along = (length - 1 - pos) if self.flipped else pos
        a, b = np.indices(pos.shape, dtype=np.float64)
        others = [i for i in range(3) if i != self.axis]
        index = np.empty((*pos.shape, 3))
        index[..., others[0]] = a
        index[..., others[1]] = b
        index[..., self.axis] = along
        return self.grid.to_patient(index)

    def mm_per_step(self) -> float:
        return float(np.linalg.norm(self.grid.axes()[self.axis]))

    def ray_spacing(self) -> tuple[float, float]:
        """mm between neighbouring rays along the two other voxel axes."""
        lengths = np.linalg.norm(self.grid.axes(), axis=1)
        others = [float(lengths[i]) for i in range(3) if i != self.axis]
        return others[0], others[1]

    def samples(self, which: str, rays: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Values at whole-voxel offsets from the hit of each selected ray
        (positive: deeper into the body); NaN beyond the volume."""
        pos = self.front if which == "front" else self.back
        a, b = np.nonzero(rays)
        # The first voxel inside the body: offsets > 0 go deeper, < 0 into the air.
        start = (np.ceil(pos[a, b]) if which == "front" else np.floor(pos[a, b])).astype(int)
        sign = 1 if which == "front" else -1
        idx = start[:, None] + sign * offsets[None, :]
        ok = (idx >= 0) & (idx < self.view.shape[-1])
        out = np.full(idx.shape, np.nan, np.float32)
        rows = np.broadcast_to(a[:, None], idx.shape)
        cols = np.broadcast_to(b[:, None], idx.shape)
        out[ok] = self.view[rows[ok], cols[ok], idx[ok]]
        return out


def _first(view: np.ndarray, inside: np.ndarray, thr: float) -> np.ndarray:
    """Fractional index of the first mask voxel along the last axis."""
    hit = inside.argmax(axis=-1)
    any_hit = np.take_along_axis(inside, hit[..., None], axis=-1)[..., 0]
    before = np.take_along_axis(view, np.maximum(hit - 1, 0)[..., None], axis=-1)[..., 0]
    at = np.take_along_axis(view, hit[..., None], axis=-1)[..., 0]
    before = before.astype(np.float32)
    at = at.astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.clip((thr - before) / (at - before), 0.0, 1.0)
    frac = np.where((hit > 0) & (before < thr) & np.isfinite(frac), frac, 1.0)
    pos = hit - 1 + frac
    return np.where(any_hit, pos, np.nan)


@dataclass
class DepthMap:
    """Patient y of the skin per (x, z) cell, seen along y.

    Rows run superior->inferior, columns patient right->left (as a viewer
    facing the patient sees them). NaN where no skin is seen.
    """

    depth: np.ndarray
    x0: float  # patient x of column 0
    z1: float  # patient z of row 0
    mm: float
    z_top: float  # patient z of the top of what was imaged

    def cell(self, x: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cols = np.round((x - self.x0) / self.mm).astype(int)
        rows = np.round((self.z1 - z) / self.mm).astype(int)
        return rows, cols


def frame(points: list[np.ndarray], mm: float, grid: Grid) -> tuple[float, float, tuple]:
    """A common (x0, z1, shape) for maps of the same surfaces."""
    finite = [p[np.isfinite(p[..., 0])] for p in points]
    allp = np.concatenate(finite) if finite else np.zeros((1, 3))
    if allp.size == 0:
        allp = np.zeros((1, 3))
    x0, x1 = float(allp[:, 0].min()), float(allp[:, 0].max())
    z0, z1 = float(allp[:, 2].min()), float(allp[:, 2].max())
    shape = (int(round((z1 - z0) / mm)) + 1, int(round((x1 - x0) / mm)) + 1)
    return x0, z1, shape


def project(
    points: np.ndarray, x0: float, z1: float, shape: tuple, mm: float, gap_mm: float, front: bool
) -> np.ndarray:
    """Scatter hits into cells (nearest surface wins) and close thin gaps
    that thick or sparse slices leave between rows."""
    p = points[np.isfinite(points[..., 0])]
    cols = np.clip(np.round((p[:, 0] - x0) / mm).astype(int), 0, shape[1] - 1)
    rows = np.clip(np.round((z1 - p[:, 2]) / mm).astype(int), 0, shape[0] - 1)
    y = p[:, 1].astype(np.float32) if front else -p[:, 1].astype(np.float32)
    depth = np.full(shape, np.inf, np.float32)
    np.minimum.at(depth, (rows, cols), y)
    gap = int(np.ceil(gap_mm / mm)) + 1
    finite = np.isfinite(depth)
    filled = np.where(finite, depth, 1e6).astype(np.float32)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (gap, gap))
    filled = cv2.dilate(cv2.erode(filled, kernel), kernel)
    hole = ~finite & (filled < 1e5)
    depth[hole] = filled[hole]
    depth[depth > 1e5] = np.nan
    return depth if front else -depth


def shade(depth: np.ndarray) -> np.ndarray:
    """A lit grey picture of the depth map, as a face detector expects a face."""
    valid = np.isfinite(depth)
    if not valid.any():
        return np.zeros(depth.shape, np.uint8)
    far = np.nanmax(depth)
    d = np.where(valid, depth, far + 30)
    gz, gx = np.gradient(-d)
    normal = np.dstack([-gx, -gz, np.ones_like(gx)])
    normal /= np.linalg.norm(normal, axis=2, keepdims=True)
    light = np.array([0.0, -0.4, 1.0])
    light /= np.linalg.norm(light)
    lambert = np.clip(normal @ light, 0, 1)
    near = (far - d) / max(far - np.nanmin(depth), 1e-6)
    image = (255 * np.clip(0.6 * lambert + 0.4 * near, 0, 1)).astype(np.uint8)
    image[~valid] = 0
    return image
