"""Is this series a head? Decided from the images, whatever the header says.

Real archives name heads with sequence names ("t1_mprage_sag", "Routine
1.0 J40s") or not at all, so the header is only a hint. The gate reads a
few dozen slices at ~4 mm, resamples them onto an axial grid in patient
space (so every acquisition plane looks alike) and follows the body's
cross-section down from the top: a head is a run of cross-sections of head
size and head shape (an ellipse a little longer than wide, convex, wholly
inside the field of view) topped by a dome (the vertex inside the field of
view) or, on CT, ringed by skull. Knees, spines, chests and abdomens fail
on size, on shape, on touching the field of view, or on having no top.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from deid.cv import cv2
from deid.face.thresholds import Thresholds
from deid.face.volume import Grid


@dataclass
class GateResult:
    head: bool
    values: dict[str, float | int | str | bool] = field(default_factory=dict)
    # Not a whole head, but a run of cross-sections that may be part of one
    # (the top of the head or its sides outside the images): only the face
    # itself can settle it.
    partial: bool = False

    def describe(self) -> str:
        v = self.values
        if "problem" in v:
            return str(v["problem"])
        if v.get("quick"):
            return (
                f"no cross-section of head size: typically {v['width_mm']:.0f} mm wide, "
                f"{v['depth_mm']:.0f} mm deep"
            )
        parts = [
            f"head-like cross-sections over {v['run_mm']:.0f} mm",
            f"width {v['width_mm']:.0f} mm, depth {v['depth_mm']:.0f} mm",
            f"convexity {v['convexity']:.2f}",
            "top of the body inside the images" if v["dome"] else "body runs out of the images",
        ]
        if "skull_ring_bands" in v:
            parts.append(f"skull ring in {v['skull_ring_bands']} cross-sections")
        return ", ".join(parts)


def _axial(grid: Grid, mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Values on an axial grid (z from the top down, y, x) and the z of each layer."""
    n, r, c = grid.data.shape
    corners = np.array(
        [[i, j, k] for i in (0, n - 1) for j in (0, r - 1) for k in (0, c - 1)], float
    )
    pts = grid.to_patient(corners)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    xs = np.arange(lo[0], hi[0] + 1e-6, mm)
    ys = np.arange(lo[1], hi[1] + 1e-6, mm)
    zs = np.arange(hi[2], lo[2] - 1e-6, -mm)
    zz, yy, xx = np.meshgrid(zs, ys, xs, indexing="ij")
    points = np.stack([xx, yy, zz], axis=-1)
    index = grid.to_index(points).transpose(3, 0, 1, 2)
    values = ndimage.map_coordinates(
        grid.data.astype(np.float32), index, order=1, cval=np.nan, prefilter=False
    )
    # map_coordinates fills only far outside; mark everything beyond the slab as unseen.
    limits = np.array([n - 1, r - 1, c - 1], float)[:, None, None, None]
    outside = ((index < -0.5) | (index > limits + 0.5)).any(axis=0)
    values[outside] = np.nan
    return values, zs


def threshold(values: np.ndarray, modality: str, grid: Grid, t: Thresholds) -> float:
    """Skin/air threshold in the grid's stored units."""
    if modality == "CT":
        return grid.raw(t.ct_skin_hu)
    sample = values[np.isfinite(values)]
    sample = sample[:: max(1, sample.size // 200_000)]
    if sample.size == 0:
        return float("inf")
    lo, hi = np.percentile(sample, (1, 99.5))
    scaled = np.clip((sample - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype(np.uint8)
    otsu, _ = cv2.threshold(scaled.reshape(-1, 1), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return float(lo + (otsu * t.mr_skin_fraction) / 255 * (hi - lo))


def _largest(mask: np.ndarray) -> np.ndarray:
    labels, count = ndimage.label(mask)
    if count == 0:
        return mask
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(sizes.argmax())


def _band(
    mask: np.ndarray, seen: np.ndarray, bone: np.ndarray | None, mm: float
) -> dict[str, float] | None:
    """Size and shape of one axial cross-section of the body."""
    ys, xs = np.nonzero(mask)
    if ys.size < 4:
        return None
    width = (xs.max() - xs.min() + 1) * mm
    depth = (ys.max() - ys.min() + 1) * mm
    points = np.stack([xs, ys], axis=1).astype(np.int32)
    hull = cv2.contourArea(cv2.convexHull(points)) + 0.5 * len(cv2.convexHull(points))
    convexity = min(1.0, ys.size / max(hull, 1.0))
    # Touching the edge of what was imaged: the body goes on beyond the images.
    # Only beyond its left or right extreme (a sagittal slab narrower than
    # the head) leaves the front, where a face would be, in the images.
    edge_y, edge_x = np.nonzero(ndimage.binary_dilation(mask) & ~seen)
    beside = (edge_x < xs.min()) | (edge_x > xs.max())
    front_back = bool(mask[0].any() or mask[-1].any() or (~beside).any())
    sides = bool(mask[:, 0].any() or mask[:, -1].any() or beside.any())
    out = {
        "width": float(width),
        "depth": float(depth),
        "convexity": float(convexity),
        "cut": float(front_back or sides),
        "cut_front_back": float(front_back),
    }
    if bone is not None:
        ring = mask & ~ndimage.binary_erosion(mask, iterations=3)
        by, bx = np.nonzero(ring & bone)
        if by.size:
            angles = np.arctan2(by - ys.mean(), bx - xs.mean())
            sectors = np.unique(((angles + np.pi) / (2 * np.pi) * 16).astype(int) % 16)
            out["ring"] = sectors.size / 16
        else:
            out["ring"] = 0.0
    return out


def _longest_run(like: list[bool]) -> tuple[int, int]:
    """(length, start) of the longest run of head-like cross-sections; one
    odd cross-section inside a run (an ear, a coarse sample) does not end it."""
    best, start, end = (0, 0), None, None
    for i, ok in enumerate([*like, False, False]):
        if ok:
            start = i if start is None else start
            end = i
        elif start is not None and end is not None and i - end > 1:
            best = max(best, (end - start + 1, -start))
            start = end = None
    return best[0], -best[1]


def _head_like(b: dict[str, float], t: Thresholds, cut_sides: bool = False) -> bool:
    """`cut_sides`: a cross-section the images cut off at the left or right
    (its front inside them) may still be part of a head."""
    ratio = b["depth"] / max(b["width"], 1e-6)
    return (
        t.head_width_mm[0] <= b["width"] <= t.head_width_mm[1]
        and t.head_depth_mm[0] <= b["depth"] <= t.head_depth_mm[1]
        and t.head_depth_ratio[0] <= ratio <= t.head_depth_ratio[1]
        and b["convexity"] >= t.head_convexity
        and not b["cut_front_back" if cut_sides else "cut"]
    )


def _sizes(grid: Grid, body: np.ndarray, mm: float) -> tuple[np.ndarray, np.ndarray]:
    """Left-right and front-back extent (mm, to `mm`) of the body per axial
    band of `mm`, from its voxels' patient positions: counts in (band, bin)
    cells, no resampling and no per-point reductions."""
    points = grid.to_patient(np.argwhere(body).astype(np.float64))
    band = ((points[:, 2].max() - points[:, 2]) // mm).astype(np.int64)
    bands = int(band.max()) + 1
    sizes = []
    for axis in (0, 1):
        cell = ((points[:, axis] - points[:, axis].min()) // mm).astype(np.int64)
        bins = int(cell.max()) + 1
        occupied = np.bincount(band * bins + cell, minlength=bands * bins).reshape(bands, bins) > 0
        first = occupied.argmax(axis=1)
        last = bins - 1 - occupied[:, ::-1].argmax(axis=1)
        sizes.append(np.where(occupied.any(axis=1), (last - first + 1) * mm, np.nan))
    return sizes[0], sizes[1]


def quick_look(grid: Grid, modality: str, t: Thresholds) -> tuple[bool, dict]:
    """A quick look at a dozen slices on their own grid: is any cross-section
    of head size? Bodies far from it (abdomen, chest, knee) stop here, at
    the cost of a dozen reads."""
    data = grid.data
    sample = data[:: max(1, data.shape[0] // 8)]
    thr = threshold(sample, modality, grid, t)
    body = _largest(data > thr)
    if not body.any():
        return False, {"problem": "no body found in the images"}
    width, depth = _sizes(grid, body, t.gate_mm)
    slack = 1.1  # the quick look's extents are coarse
    with np.errstate(invalid="ignore"):
        fits = (
            (width >= t.head_width_mm[0] / slack)
            & (width <= t.head_width_mm[1] * slack)
            & (depth >= t.head_depth_mm[0] / slack)
            & (depth <= t.head_depth_mm[1] * slack)
        )
    values = {
        "run_mm": 0.0,
        "width_mm": round(float(np.nanmedian(width)), 1),
        "depth_mm": round(float(np.nanmedian(depth)), 1),
        "convexity": 0.0,
        "dome": False,
        "quick": True,
    }
    return bool(fits.any()), values


def decide(grid: Grid, modality: str, t: Thresholds) -> GateResult:
    """The head decision on up to `gate_slices` slices (after a quick look)."""
    mm = t.gate_mm
    values, zs = _axial(grid, mm)
    seen = np.isfinite(values)
    thr = threshold(values, modality, grid, t)
    body = _largest(np.where(seen, values, -np.inf) > thr)
    bone = (np.where(seen, values, -np.inf) > grid.raw(t.ct_bone_hu)) if modality == "CT" else None
    bands = []
    for i in range(len(zs)):
        b = _band(body[i], seen[i], None if bone is None else bone[i], mm)
        bands.append(b)
    filled = [i for i, b in enumerate(bands) if b is not None]
    if not filled:
        return GateResult(False, {"problem": "no body found in the images"})
    like = [b is not None and _head_like(b, t) for b in bands]
    run, first = _longest_run(like)
    heads = [bands[i] for i in range(first, first + run) if like[i]]
    top = filled[0]
    dome = _dome(like, top, seen, t)
    values_out: dict[str, float | int | str | bool] = {
        "run_mm": round(run * mm, 1),
        "width_mm": round(float(np.median([b["width"] for b in heads])) if heads else 0.0, 1),
        "depth_mm": round(float(np.median([b["depth"] for b in heads])) if heads else 0.0, 1),
        "convexity": round(float(np.median([b["convexity"] for b in heads])) if heads else 0.0, 3),
        "dome": bool(dome),
    }
    ringed = False
    if bone is not None:
        count = sum(1 for b in heads if b.get("ring", 0) >= t.skull_ring_share)
        values_out["skull_ring_bands"] = count
        ringed = count >= t.skull_ring_bands
    head = run * mm >= t.head_run_mm and (dome or ringed)
    # Part of a head: a head's run with its top outside the images (chin to
    # brow: the run starts at the top of the images, and is no longer than a
    # head below its brow; a thigh's runs on), or under a top inside them,
    # cut off at the sides (a sagittal slab narrower than the head; a torso
    # cut so has no top).
    sides = [b is not None and _head_like(b, t, cut_sides=True) for b in bands]
    part, _ = _longest_run(sides)
    values_out["part_run_mm"] = round(part * mm, 1)
    cut_part = part * mm >= t.head_run_mm and _dome(sides, top, seen, t)
    no_top = first - top <= 1 and t.head_run_mm <= run * mm <= t.part_run_max_mm
    partial = no_top or cut_part
    return GateResult(head, values_out, partial=not head and partial)


def _dome(like: list[bool], top: int, seen: np.ndarray, t: Thresholds) -> bool:
    """The vertex is inside the images (empty, imaged layers above the body's
    top) and head-like cross-sections start soon below it."""
    starts = [i for i, ok in enumerate(like) if ok]
    return (
        top > 0
        and bool(seen[top - 1].any())
        and bool(starts)
        and starts[0] - top <= t.dome_gap_mm / t.gate_mm
    )
