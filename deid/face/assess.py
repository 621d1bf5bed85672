"""Face-reconstruction risk of one series: gates, then image evidence.

Reference method: skin mask -> anterior depth map at ~1 mm in patient
coordinates, seen only from the anterior direction the geometry gives (all
six directions gave false detections on the backs and tops of heads) ->
OpenCV frontal-face Haar cascades -> each detection confirmed by the depth
map (the nose stands in front of cheeks). Detectors miss real faces, so a
head series that covers the face is `medium` even without a detection.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from functools import cache

import cv2
import numpy as np
import pydicom
from scipy import ndimage

from deid.face.geometry import Layout, Series, extent, layout
from deid.face.thresholds import Thresholds

LEVELS = ("none", "low", "medium", "high")
CASCADES = (
    "haarcascade_frontalface_default.xml",
    "haarcascade_frontalface_alt.xml",
    "haarcascade_frontalface_alt2.xml",
)


@dataclass
class FaceResult:
    series: str
    level: str
    reasons: list[str]
    measured: dict[str, float | int | str] = field(default_factory=dict)
    seconds: float = 0.0
    preview: bytes | None = None  # PNG of the anterior render with boxes: itself a face image


def gates(series: Series, lay: Layout | None, t: Thresholds) -> list[str]:
    """Reasons the series cannot show a face ([] when it may)."""
    if series.modality not in t.modalities:
        return [f"modality {series.modality or '?'} is not {'/'.join(t.modalities)}"]
    if not t.names_head(series.words):
        return ["body part and descriptions do not indicate head, brain, face or neck"]
    if lay is None or not lay.ok:
        # Geometry cannot be trusted, but too few images hold no face anyway.
        count = sum(max(1, len(s.frame_positions) or s.frames) for s in series.slices)
        if count < t.min_slices:
            problem = lay.problem if lay else "?"
            return [f"{count} images (< {t.min_slices}); geometry unusable ({problem})"]
        return []  # the caller reports the geometry problem
    reasons = []
    count = len(lay.order)
    if count < t.min_slices:
        reasons.append(f"{count} slices (< {t.min_slices})")
    if lay.slice_spacing > t.max_slice_spacing_mm:
        reasons.append(f"slice spacing {lay.slice_spacing:.1f} mm (> {t.max_slice_spacing_mm})")
    if max(lay.spacing) > t.max_pixel_spacing_mm:
        reasons.append(f"pixel spacing {max(lay.spacing):.1f} mm (> {t.max_pixel_spacing_mm})")
    size = extent(lay)
    if size[2] < t.min_head_foot_mm:
        reasons.append(f"head-foot coverage {size[2]:.0f} mm (< {t.min_head_foot_mm:.0f})")
    if size[0] < t.min_across_mm:
        reasons.append(f"left-right coverage {size[0]:.0f} mm (< {t.min_across_mm:.0f})")
    return reasons


def _volume(lay: Layout) -> tuple[np.ndarray, bool]:
    """Slices in order, rescaled (HU on CT) only when the file says so."""
    slabs = []
    scales = set()
    current: tuple[str, np.ndarray] | None = None  # one file's frames in memory at a time
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path, frame in lay.order:
            if current is None or current[0] != path:
                ds = pydicom.dcmread(path)
                arr = ds.pixel_array
                current = (path, arr if arr.ndim == 3 else arr[None])
                slope = float(ds.get("RescaleSlope", 1) or 1)
                intercept = float(ds.get("RescaleIntercept", 0) or 0)
            scales.add((slope, intercept))
            slabs.append((current[1][frame], slope, intercept))
    if scales == {(1.0, 0.0)}:
        return np.stack([s for s, _, _ in slabs]), True
    volume = np.empty((len(slabs), *slabs[0][0].shape), np.float32)
    for i, (slab, slope, intercept) in enumerate(slabs):
        np.multiply(slab, slope, out=volume[i], casting="unsafe")
        volume[i] += intercept
    return volume, True


def _skin(volume: np.ndarray, modality: str, t: Thresholds) -> np.ndarray:
    if modality == "CT":
        mask = volume > t.ct_skin_hu
    else:
        sample = volume[:: max(1, volume.shape[0] // 32)]
        lo, hi = np.percentile(sample, (1, 99.5))
        scaled = np.clip((sample - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype(np.uint8)
        otsu, _ = cv2.threshold(scaled.reshape(-1, 1), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        mask = volume > lo + (otsu * t.mr_skin_fraction) / 255 * (hi - lo)
    labels, count = ndimage.label(mask)
    if count == 0:
        return mask
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    largest = labels == int(sizes.argmax())
    # Fill holes in 3D: background pieces that do not reach the border.
    outside, pieces = ndimage.label(~largest)
    border = np.unique(
        np.concatenate(
            [outside[[0, -1]].ravel(), outside[:, [0, -1]].ravel(), outside[:, :, [0, -1]].ravel()]
        )
    )
    keep = np.zeros(pieces + 1, bool)
    keep[border] = True
    keep[0] = False
    return ~keep[outside]


def _patient_points(lay: Layout, idx: np.ndarray) -> np.ndarray:
    """Voxel indices (slice, row, col) -> patient mm (LPS)."""
    assert lay.positions is not None and lay.row_dir is not None and lay.col_dir is not None
    s, r, c = idx[:, 0], idx[:, 1], idx[:, 2]
    return (
        lay.positions[s]
        + (c * lay.spacing[1])[:, None] * lay.row_dir
        + (r * lay.spacing[0])[:, None] * lay.col_dir
    )


def _surface_points(mask: np.ndarray) -> np.ndarray:
    """Boundary voxels of the skin mask (the surface is all a render needs)."""
    inner = ndimage.binary_erosion(mask)
    return np.argwhere(mask & ~inner)


def anterior_depth(
    lay: Layout, mask: np.ndarray, mm: float
) -> tuple[np.ndarray, tuple[float, float]]:
    """Depth map seen from the front: per (x, z) the most anterior skin y.

    Rows run superior->inferior, columns patient right->left (as a viewer
    facing the patient sees them). NaN where no skin is hit.
    """
    pts = _patient_points(lay, _surface_points(mask))
    x, y, z = pts[:, 0], pts[:, 1], pts[:, 2]
    x0, z1 = x.min(), z.max()
    cols = np.round((x - x0) / mm).astype(int)
    rows = np.round((z1 - z) / mm).astype(int)
    depth = np.full((rows.max() + 1, cols.max() + 1), np.inf, np.float32)
    np.minimum.at(depth, (rows, cols), y.astype(np.float32))
    # Thick slices leave rows empty between them: close along the slice axis.
    gap = int(np.ceil(max(lay.slice_spacing, *lay.spacing) / mm)) + 1
    finite = np.isfinite(depth)
    filled = np.where(finite, depth, 1e6).astype(np.float32)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (gap, gap))
    filled = cv2.erode(filled, kernel)  # min filter: nearest surface wins
    filled = cv2.dilate(filled, kernel)
    hole = ~finite & (filled < 1e5)
    depth[hole] = filled[hole]
    depth[depth > 1e5] = np.inf
    return np.where(np.isfinite(depth), depth, np.nan), (float(x0), float(z1))


def shade(depth: np.ndarray) -> np.ndarray:
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


@cache
def _cascades() -> tuple[cv2.CascadeClassifier, ...]:
    return tuple(cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, n)) for n in CASCADES)


def detect_faces(image: np.ndarray, depth: np.ndarray, t: Thresholds) -> tuple[list, list]:
    """Cascade detections, and those the depth map confirms."""
    size = int(t.min_face_mm / t.render_mm)
    equalised = cv2.equalizeHist(image)
    found = []
    for cascade in _cascades():
        for box in cascade.detectMultiScale(equalised, 1.05, 3, minSize=(size, size)):
            found.append(tuple(int(v) for v in box))
    confirmed = []
    for x, y, w, h in found:
        centre = depth[y + h * 2 // 5 : y + h * 3 // 5, x + w * 2 // 5 : x + w * 3 // 5]
        sides = np.concatenate(
            [
                depth[y + h // 3 : y + 2 * h // 3, x : x + w // 6].ravel(),
                depth[y + h // 3 : y + 2 * h // 3, x + 5 * w // 6 : x + w].ravel(),
            ]
        )
        if not np.isfinite(centre).any() or not np.isfinite(sides).any():
            continue
        # Smaller y is more anterior: the nose is in front of the cheeks.
        protrusion = float(np.nanmedian(sides) - np.nanmin(centre))
        if protrusion >= t.nose_protrusion_mm:
            confirmed.append((x, y, w, h, round(protrusion, 1)))
    return found, confirmed


def _axis(lay: Layout, axis: int, shape: tuple[int, ...], step: int) -> np.ndarray:
    """One patient coordinate (0 x, 1 y, 2 z) of every `step`-th voxel, by
    broadcasting: origin + column * row_dir + row * col_dir is separable."""
    assert lay.positions is not None and lay.row_dir is not None and lay.col_dir is not None
    s = lay.positions[::step, axis][:, None, None]
    r = (np.arange(0, shape[1], step) * lay.spacing[0] * lay.col_dir[axis])[None, :, None]
    c = (np.arange(0, shape[2], step) * lay.spacing[1] * lay.row_dir[axis])[None, None, :]
    return np.broadcast_to(s + r + c, volume_shape(shape, step)).astype(np.float32)


def volume_shape(shape: tuple[int, ...], step: int) -> tuple[int, int, int]:
    return tuple(len(range(0, n, step)) for n in shape[:3])  # type: ignore[return-value]


def defacing(volume: np.ndarray, mask: np.ndarray, lay: Layout, t: Thresholds) -> dict:
    """Exactly constant voxels just in front of the face vs behind the head.

    Defacing tools zero-fill the face; real air is noisy. Nothing is decided
    when the whole background is exactly constant (skull-stripped or
    synthetic data), because then constancy means nothing. Every second
    voxel is enough to measure shares.
    """
    step = 2
    shape = volume.shape
    exact = (volume == volume.min())[::step, ::step, ::step]
    mask = mask[::step, ::step, ::step]
    outside = ~mask
    if not outside.any():
        return {"decided": False, "why": "no background"}
    if exact[outside].mean() > 0.98:
        return {"decided": False, "why": "the whole background is exactly constant"}
    y = _axis(lay, 1, shape, step)
    z = _axis(lay, 2, shape, step)
    x = _axis(lay, 0, shape, step)
    ys, zs, xs = y[mask], z[mask], x[mask]
    if ys.size == 0:
        return {"decided": False, "why": "no head"}
    front, back = float(ys.min()), float(ys.max())
    top, bottom = float(zs.max()), float(zs.min())
    # Face level (the lower part of the head in the data), near the midline.
    near = (z < bottom + 0.6 * (top - bottom)) & (
        np.abs(x - float(np.median(xs))) < 0.25 * float(xs.max() - xs.min())
    )
    # Air just in front of the face / behind the head (outside the skin).
    front_band = outside & near & (y < front + 40) & (y > front - 15)
    back_band = outside & near & (y > back - 40) & (y < back + 15)
    front_share = float(exact[front_band].mean()) if front_band.any() else 0.0
    back_share = float(exact[back_band].mean()) if back_band.any() else 0.0
    return {
        "decided": True,
        "defaced": front_share >= t.zeroed_fraction and back_share <= t.back_max_fraction,
        "zeroed_front": front_share,
        "zeroed_back": back_share,
    }


def assess(series: Series, t: Thresholds, want_preview: bool = False) -> FaceResult:
    start = time.perf_counter()
    lay = layout(series)
    closed = gates(series, lay, t)
    if closed:
        return FaceResult(series.uid, "none", closed, seconds=time.perf_counter() - start)
    if not lay.ok:
        return FaceResult(
            series.uid,
            "medium",
            [f"head series with unusable geometry ({lay.problem}): cannot check, assume a face"],
            seconds=time.perf_counter() - start,
        )
    volume, _ = _volume(lay)
    mask = _skin(volume, series.modality, t)
    depth, _ = anterior_depth(lay, mask, t.render_mm)
    image = shade(depth)
    found, confirmed = detect_faces(image, depth, t)
    deface = defacing(volume, mask, lay, t)
    measured: dict[str, float | int | str] = {
        "slices": len(lay.order),
        "slice_spacing_mm": round(lay.slice_spacing, 2),
        "detections": len(found),
        "confirmed": len(confirmed),
        **{k: (round(v, 3) if isinstance(v, float) else str(v)) for k, v in deface.items()},
    }
    if confirmed and not deface.get("defaced"):
        level, reasons = (
            "high",
            [
                f"{len(confirmed)} face detection(s) on the anterior surface render, "
                "confirmed by depth (nose in front of cheeks)"
            ],
        )
    elif deface.get("defaced"):
        level, reasons = (
            "low",
            [
                "face region exactly zero-filled (defaced) while the back of the head is not; "
                "defaced heads are still sometimes matched"
            ],
        )
    elif not deface.get("decided", True) and "constant" in str(deface.get("why")):
        level, reasons = (
            "low",
            [
                "background exactly constant (skull-stripped or brain-only data) and no face "
                "detection; not none, because stripped data can keep facial tissue"
            ],
        )
    else:
        level, reasons = (
            "medium",
            [
                "head series covering the face; no confirmed face detection "
                "(detectors miss real faces, so this is the floor)"
            ],
        )
        if not deface.get("decided", True):
            reasons.append(f"defacing not judged: {deface.get('why')}")
    preview = None
    if want_preview:
        canvas = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        for x, y, w, h in found:
            cv2.rectangle(canvas, (x, y), (x + w, y + h), (0, 200, 255), 1)
        for x, y, w, h, _ in confirmed:
            cv2.rectangle(canvas, (x, y), (x + w, y + h), (0, 0, 255), 2)
        preview = cv2.imencode(".png", canvas)[1].tobytes()
    return FaceResult(
        series.uid, level, reasons, measured, round(time.perf_counter() - start, 3), preview
    )
