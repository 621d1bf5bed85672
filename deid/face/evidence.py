"""Was the face taken away, or smoothed, before deid saw it?

Defacing tools cut a plane through the face (quickshear), mask it away and
fill the hole (with zero, the background value or noise), blur it, or paste
an average face in. Each leaves traces measured here, always against the
back of the same head, so scanner, noise level and background value cancel
out:

- relief: no nose standing in front of the cheeks, no eye hollows;
- a plane: most of the face window on one plane;
- a fill: the air in front of the face holds one exact value that the air
  behind the head does not (whatever that value is: zero, the background's
  typical value, or scanner padding elsewhere in the image);
- smoothing: fine surface detail and voxel noise in the face far below the
  back of the head's; a blurred face also has soft skin edges, a pasted
  average face sharp ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from deid.face.relief import Face, detail, planar_share
from deid.face.surface import DepthMap, Surface
from deid.face.thresholds import Thresholds

AIR = np.arange(-16, -1)  # voxels in front of the skin (the one at the edge is mixed)
TISSUE = np.arange(3, 13)  # voxels under the skin
EDGE = np.arange(-6, 7)


@dataclass
class Evidence:
    verdict: str  # intact | removed | smoothed | unknown
    reasons: list[str] = field(default_factory=list)
    values: dict[str, float | str] = field(default_factory=dict)


def _rays(surface: Surface, which: str, dmap: DepthMap, r: slice, c: slice) -> np.ndarray:
    """Rays whose hit falls in the (rows, cols) window of the depth map."""
    points = surface.points(which)
    ok = np.isfinite(points[..., 0])
    rows, cols = dmap.cell(np.nan_to_num(points[..., 0]), np.nan_to_num(points[..., 2]))
    inside = (rows >= r.start) & (rows < (r.stop or 10**9)) & (cols >= c.start) & (cols < c.stop)
    return ok & inside


def _noise(values: np.ndarray) -> float:
    """Robust voxel noise along rays (first differences, MAD)."""
    d = np.diff(values.astype(np.float64), axis=1)
    d = d[np.isfinite(d)]
    if d.size < 20:
        return 0.0
    return float(1.4826 * np.median(np.abs(d - np.median(d))))


def _edge(values: np.ndarray, step_mm: float) -> float:
    """Median width (mm) of the air-to-skin rise: its height over its
    steepest step (one voxel for a sharp edge, ~2.5 sigma for a blurred one)."""
    v = values.astype(np.float64)
    air = np.nanmedian(v[:, :3], axis=1)
    skin = v[:, -EDGE[0] :]  # from the hit inwards: the skin's own level, before bone
    tissue = np.nanmax(skin, axis=1) if skin.size else air
    span = tissue - air
    steepest = np.nanmax(np.diff(v, axis=1), axis=1)
    ok = np.isfinite(span) & (span > 0) & (steepest > 0)
    if not ok.any():
        return 0.0
    return float(np.median(span[ok] / steepest[ok]) * step_mm)


def _fill(surface: Surface, front: np.ndarray, back: np.ndarray) -> tuple[float, float, float]:
    """(share of the air in front of the face holding its most common exact
    value, share of the air behind the head holding that same value, value)."""
    ahead = surface.samples("front", front, AIR)
    ahead = ahead[np.isfinite(ahead)]
    if ahead.size < 20:
        return 0.0, 0.0, float("nan")
    values, counts = np.unique(ahead, return_counts=True)
    mode = values[int(counts.argmax())]
    behind = surface.samples("back", back, AIR)
    behind = behind[np.isfinite(behind)]
    back_share = float((behind == mode).mean()) if behind.size else 0.0
    return float((ahead == mode).mean()), back_share, float(mode)


def _ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b > 1e-9 else float("nan")


def measure(surface: Surface, front: DepthMap, back: DepthMap, face: Face) -> dict:
    """Every number the verdict uses, for the report."""
    # The face's core against the back of the head at the same heights.
    ahead = _rays(surface, "front", front, face.core_rows, face.core_cols)
    behind = _rays(surface, "back", front, face.core_rows, face.core_cols)
    step = surface.mm_per_step()
    window = front.depth[face.rows, face.cols]
    fill_front, fill_back, fill_value = _fill(surface, ahead, behind)
    spacing = surface.ray_spacing()
    detail_face = detail(surface.front, ahead, spacing, step)
    detail_back = detail(surface.back, behind, spacing, step)
    noise_face = _noise(surface.samples("front", ahead, TISSUE))
    noise_back = _noise(surface.samples("back", behind, TISSUE))
    edge_face = _edge(surface.samples("front", ahead, EDGE), step)
    edge_back = _edge(surface.samples("back", behind, EDGE), step)
    return {
        "face_seen": round(float(np.isfinite(window).mean()) if window.size else 0.0, 3),
        "nose_mm": face.nose_mm,
        "orbits_mm": face.orbits_mm,
        "planar_share": round(planar_share(front.depth[face.core_rows, face.core_cols], 1.5), 3),
        "fill_front": round(fill_front, 3),
        "fill_back": round(fill_back, 3),
        "fill_value": fill_value,
        "detail_ratio": _ratio(detail_face, detail_back),
        "noise_ratio": _ratio(noise_face, noise_back),
        "edge_face_mm": round(edge_face, 2),
        "edge_back_mm": round(edge_back, 2),
    }


def judge(v: dict, t: Thresholds) -> Evidence:
    """Verdict and reasons from the measures, against the thresholds (data).

    Only a missing relief means the face is gone; a fill or smoothing with
    the relief still there is a face pasted in or blurred, still a face.
    """
    if v["face_seen"] < t.min_face_seen:
        why = f"face window mostly empty ({v['face_seen']:.0%} seen)"
        return Evidence("unknown", [why], v)
    filled = v["fill_front"] >= t.zeroed_fraction and v["fill_back"] <= t.back_max_fraction
    fill = (
        f"air in front of the face holds one exact value ({v['fill_value']:g}): "
        f"{v['fill_front']:.0%} there, {v['fill_back']:.0%} behind the head"
    )
    if v["nose_mm"] < t.nose_relief_mm:
        if v["planar_share"] >= t.planar_share:
            why = (
                f"planar cut: {v['planar_share']:.0%} of the face window on one plane "
                f"(>= {t.planar_share:.0%}), no nose standing out ({v['nose_mm']:.1f} mm)"
            )
        else:
            why = (
                f"no facial relief: nose {v['nose_mm']:.1f} mm in front of the cheeks "
                f"(< {t.nose_relief_mm:g}), eye hollows {v['orbits_mm']:.1f} mm"
            )
        return Evidence("removed", [why, fill] if filled else [why], v)
    smooth_detail = v["detail_ratio"] == v["detail_ratio"] and v["detail_ratio"] < t.detail_ratio
    smooth_noise = v["noise_ratio"] == v["noise_ratio"] and v["noise_ratio"] < t.noise_ratio
    if not (smooth_detail or smooth_noise or filled):
        return Evidence("intact", [], v)
    numbers = (
        f"surface detail {v['detail_ratio']:.2f} and voxel noise {v['noise_ratio']:.2f} "
        "of the back of the head's"
    )
    if filled:
        numbers += f"; {fill}"
    if v["edge_back_mm"] > 0 and v["edge_face_mm"] >= t.edge_ratio * v["edge_back_mm"]:
        why = f"face blurred: {numbers}; skin edge {v['edge_face_mm']:.1f} mm wide"
    else:
        why = f"face replaced by a smooth (average) face: {numbers}; sharp skin edge"
    return Evidence("smoothed", [why + "; still a face, but not the patient's own detail"], v)
