"""Face-reconstruction risk of one series: gates, then image evidence.

Cheap gates first (modality, slice count, spacing, coverage: no pixels
read), then the content gate (is it a head? a few dozen slices at ~4 mm),
then the series at the render's 1 mm: skin surface from the front and the
back, the anterior depth map and its render, facial relief, defacing
evidence, and OpenCV's frontal-face cascades confirmed by relief.
Detectors miss real faces, so a head whose face is there is `medium` even
without a detection; one whose face was taken away is `low`; one whose
face was smoothed or replaced is `medium`, never `high`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from deid.cv import cv2
from deid.face import evidence, gate, surface, volume
from deid.face.detect import detect
from deid.face.geometry import Layout, Series, extent, layout
from deid.face.relief import Face, Relief, locate
from deid.face.thresholds import Thresholds

LEVELS = ("none", "unjudged", "low", "medium", "high")
# The images could not be judged and the header does not name the head:
# no face is claimed either way (RecognizableVisualFeatures not written).
UNJUDGED = "unjudged"
_NOT_JUDGED = "content not judged"


@dataclass(frozen=True)
class Cut:
    """Where `--deface` removes the face, in patient mm (LPS): voxels with
    |x - x_mid| <= half_width, z <= z_top and y <= y_back become `fill`."""

    x_mid: float
    half_width: float
    z_top: float
    y_back: float
    fill: float  # the series' background, in units (HU on CT)
    lowered: bool = False  # CT: the top moved down under tissue the skull encloses

    def mask(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
        return (np.abs(x - self.x_mid) <= self.half_width) & (z <= self.z_top) & (y <= self.y_back)


@dataclass
class FaceResult:
    series: str
    level: str
    reasons: list[str]
    measured: dict = field(default_factory=dict)
    seconds: float = 0.0
    preview: bytes | None = None  # PNG of the anterior render with boxes: itself a face image
    ref: str = ""  # a name for files about this series that no original value shows through
    cut: Cut | None = None  # where --deface would remove the face (medium/high only)
    after: dict = field(default_factory=dict)  # what --deface did, and the re-assessment
    preview_after: bytes | None = None
    named: bool = False  # the header names the head (its outputs were written YES at first)
    mixed: bool = False  # its files' headers disagree on that (written YES and NO at first)


def gates(series: Series, lay: Layout, t: Thresholds, named: bool) -> list[str]:
    """Reasons the series cannot show a face ([] when it may)."""
    if series.modality not in t.modalities:
        return [f"modality {series.modality or '?'} is not {'/'.join(t.modalities)}"]
    if not lay.ok:
        # Geometry cannot be trusted, but too few images hold no face anyway.
        count = sum(max(1, len(s.frame_positions) or s.frames) for s in series.slices)
        if count < t.min_slices:
            return [f"{count} images (< {t.min_slices}); geometry unusable ({lay.problem})"]
        if not named:
            return [
                f"slices cannot be put in order ({lay.problem}) and the header does not name "
                f"the head: {_NOT_JUDGED}"
            ]
        return []  # the caller reports the geometry problem
    reasons = []
    count = len(lay.order) - lay.filled
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


def candidate(series: Series, t: Thresholds) -> bool:
    """Worth a report entry: named as a head, or of a modality that shows
    one. A series too small to judge is one too (a localizer, a slab): it
    was passed over in silence, its outputs marked RecognizableVisualFeatures
    NO unexamined; it is reported unjudged and claims nothing."""
    return t.names_head(series.words) or series.modality in t.modalities


@dataclass
class Views:
    """What the image evidence is computed on, kept for previews and --deface."""

    grid: volume.Grid
    surf: surface.Surface
    front: surface.DepthMap
    back: surface.DepthMap
    relief: Relief
    face: Face
    threshold: float


def views(grid: volume.Grid, modality: str, t: Thresholds) -> Views:
    sample = grid.data[:: max(1, grid.data.shape[0] // 16)]
    thr = gate.threshold(sample, modality, grid, t)
    mask = surface.body_mask(grid, thr, t.body_mm)
    surf = surface.Surface.find(grid, mask, thr)
    front_pts, back_pts = surf.points("front"), surf.points("back")
    mm = t.render_mm
    x0, z1, shape = surface.frame([front_pts, back_pts], mm, grid)
    axes = np.linalg.norm(grid.axes(), axis=1)
    gap = float(max(a for i, a in enumerate(axes) if i != surf.axis))
    n, r, c = grid.data.shape
    corners = np.array([[i, j, k] for i in (0, n - 1) for j in (0, r - 1) for k in (0, c - 1)])
    z_top = float(grid.to_patient(corners.astype(float))[:, 2].max())
    front = surface.DepthMap(
        surface.project(front_pts, x0, z1, shape, mm, gap, True), x0, z1, mm, z_top
    )
    back = surface.DepthMap(
        surface.project(back_pts, x0, z1, shape, mm, gap, False), x0, z1, mm, z_top
    )
    relief = Relief.of(front, t)
    return Views(grid, surf, front, back, relief, locate(front, relief, t), thr)


def _level(ev: evidence.Evidence, confirmed: list, found: list) -> tuple[str, list[str]]:
    if ev.verdict == "removed":
        return "low", [
            "no face left (defaced, or none imaged): " + "; ".join(ev.reasons)
            + "; defaced heads are still sometimes matched"
        ]
    if ev.verdict == "smoothed":
        return "medium", ev.reasons
    if confirmed:
        relief = confirmed[0][4]
        return "high", [
            f"{len(confirmed)} face detection(s) on the anterior surface render, confirmed by "
            f"facial relief (nose {relief['nose_mm']} mm in front of the cheeks, eye hollows "
            f"{relief['orbits_mm']} mm)"
        ]
    reasons = [
        "head series covering the face; no confirmed face detection "
        "(detectors miss real faces, so this is the floor)"
    ]
    if ev.verdict == "unknown":
        reasons.append(f"defacing not judged: {'; '.join(ev.reasons)}")
    elif found:
        reasons.append(f"{len(found)} detection(s) without facial relief inside the box")
    return "medium", reasons


def _enclosed(bone: np.ndarray) -> np.ndarray:
    """Pixels no path through non-bone connects to the plane's border."""
    free = (~bone).astype(np.uint8)
    count, labels = cv2.connectedComponents(free, connectivity=4)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    outside = np.zeros(count, bool)
    outside[border] = True
    return free.astype(bool) & ~outside[labels]


def _cranial_floor(grid: volume.Grid, cut: Cut, t: Thresholds) -> float | None:
    """CT: the lowest patient z of soft tissue enclosed by bone (the brain in
    its skull) inside the cut's box near its top. Enclosure is looked for in
    the planes of all three voxel axes (in an oblique plane the skull may
    look open where another plane sees it closed); the orbits and the nose
    are open to the front and the sinuses hold air, so only the cranial
    cavity is found."""
    corners = np.array(
        [
            [x, y, z]
            for x in (cut.x_mid - cut.half_width, cut.x_mid + cut.half_width)
            for y in (cut.y_back - 120.0, cut.y_back)
            for z in (cut.z_top - 40.0, cut.z_top + 5.0)
        ]
    )
    span = grid.to_index(corners)
    shape = grid.data.shape
    lo = np.clip(np.floor(span.min(axis=0)).astype(int), 0, shape)
    hi = np.clip(np.ceil(span.max(axis=0)).astype(int) + 1, 0, shape)
    bone_raw, tissue_raw = grid.raw(t.ct_bone_hu), grid.raw(t.ct_skin_hu)
    kernel = np.ones((3, 3), np.uint8)
    floor = None
    for axis in range(3):
        others = [a for a in range(3) if a != axis]
        for i in range(lo[axis], hi[axis], max(1, int(round(2.0 / grid.axes_mm()[axis])))):
            plane = np.take(grid.data, i, axis=axis)
            bone = cv2.dilate((plane > bone_raw).astype(np.uint8), kernel) > 0
            crop = (slice(lo[others[0]], hi[others[0]]), slice(lo[others[1]], hi[others[1]]))
            inside = (_enclosed(bone) & (plane > tissue_raw))[crop]
            cells = np.argwhere(inside).astype(np.float64)
            if not cells.size:
                continue
            cells += [lo[others[0]], lo[others[1]]]
            x, y, z = grid.to_patient(np.insert(cells, axis, float(i), axis=1)).T
            hit = cut.mask(x, y, z) & (z >= cut.z_top - 40.0)
            if hit.any():
                low = float(z[hit].min())
                floor = low if floor is None else min(floor, low)
    return floor


def cut_for(v: Views, t: Thresholds, modality: str = "") -> Cut:
    """The face region from the nose tip (or the face window's most anterior
    point): up to below the brain, back to behind the eyes. On CT the cut's
    top is lowered under any soft tissue the skull encloses inside it."""
    front, face = v.front, v.face
    window = front.depth[face.rows, face.cols]
    if face.nose is not None:
        row, col = face.nose
    elif np.isfinite(window).any():
        r, c = np.unravel_index(int(np.nanargmin(window)), window.shape)
        row, col = face.rows.start + int(r), face.cols.start + int(c)
    else:
        row = (face.rows.start + face.rows.stop) // 2
        col = (face.cols.start + face.cols.stop) // 2
    y = float(np.nanmin(window)) if np.isfinite(window).any() else 0.0
    air = v.surf.samples("front", np.isfinite(v.surf.front), evidence.AIR)
    air = air[np.isfinite(air)]
    fill = float(v.grid.units(np.median(air))) if air.size else float(v.grid.units(0))
    cut = Cut(
        x_mid=front.x0 + col * front.mm,
        half_width=t.half_width_mm,
        z_top=front.z1 - row * front.mm + t.top_above_nose_mm,
        y_back=y + t.depth_behind_nose_mm,
        fill=fill,
    )
    floor = _cranial_floor(v.grid, cut, t) if modality == "CT" else None
    if floor is not None:
        cut = replace(cut, z_top=floor - t.brain_margin_mm, lowered=True)
    return cut


def _preview(image: np.ndarray, found: list, confirmed: list) -> bytes:
    canvas = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    for x, y, w, h in found:
        cv2.rectangle(canvas, (x, y), (x + w, y + h), (0, 200, 255), 1)
    for x, y, w, h, _ in confirmed:
        cv2.rectangle(canvas, (x, y), (x + w, y + h), (0, 0, 255), 2)
    return cv2.imencode(".png", canvas)[1].tobytes()


def judge(grid: volume.Grid, modality: str, t: Thresholds, preview: bool) -> FaceResult:
    """Level and reasons from the series on the render grid."""
    v = views(grid, modality, t)
    measures = evidence.measure(v.surf, v.front, v.back, v.face)
    ev = evidence.judge(measures, t)
    image = surface.shade(v.front.depth)
    found: list = []
    confirmed: list = []
    if ev.verdict != "removed":  # the cascades cannot change a removed face's level
        found, confirmed = detect(image, v.relief, t)
    level, reasons = _level(ev, confirmed, found)
    measured = {
        "detections": len(found),
        "confirmed": len(confirmed),
        "evidence": ev.verdict,
        **measures,
    }
    result = FaceResult("", level, reasons, measured)
    if level in ("medium", "high"):
        result.cut = cut_for(v, t, modality)
    if preview:
        result.preview = _preview(image, found, confirmed)
    return result


def _settle_part(result: FaceResult, found: gate.GateResult, t: Thresholds) -> None:
    """Part of a head the header does not name (its top or sides outside the
    images: a sagittal slab, chin to brow): a face only where the render
    shows one, a nose standing out or a detection confirmed by relief.
    Rated `none` on the gate alone, such series were written NO with their
    faces in them."""
    nose = float(result.measured.get("nose_mm") or 0.0)
    part = (
        f"may be part of a head by its images (cross-sections of a head's size and shape over "
        f"{found.values.get('part_run_mm', 0):.0f} mm, counting those the images cut off at "
        f"the sides; as a whole head: {found.describe()}); the header does not name one"
    )
    if result.level == "high" or (result.level == "medium" and nose >= t.nose_relief_mm):
        result.reasons.insert(0, f"{part}; its render shows a face")
        return
    result.level, result.cut = "none", None
    result.reasons = [f"{part}; no face in its render (nose {nose:.0f} mm in front of the cheeks)"]


def head_gate(lay: Layout, modality: str, t: Thresholds) -> gate.GateResult:
    """A quick look at a dozen slices, then, for what may be a head, the
    full gate on a few dozen."""
    quick = volume.read(lay, t.gate_mm, t.quick_slices, sample=True)
    possible, values = gate.quick_look(quick, modality, t)
    if not possible:
        return gate.GateResult(False, values)
    return gate.decide(volume.read(lay, t.gate_mm, t.gate_slices, sample=True), modality, t)


def assess(
    series: Series, t: Thresholds, want_preview: bool = False, assume_head: bool = False
) -> FaceResult:
    """`assume_head`: the series is known to be a head (deid defaced it), as
    if its header named one."""
    start = time.perf_counter()
    lay = layout(series)
    named = assume_head or t.names_head(series.words)
    closed = gates(series, lay, t, named)
    if closed:
        # Its images were not looked at: no marker claims either way (NO
        # here claimed, unexamined, that a ten-slice head slab held no face).
        if not closed[-1].endswith(_NOT_JUDGED):
            closed.append(f"too small or coarse to judge from its images: {_NOT_JUDGED}")
        seconds = time.perf_counter() - start
        return FaceResult(series.uid, UNJUDGED, closed, seconds=seconds, named=named)
    if not lay.ok:
        return FaceResult(
            series.uid,
            "medium",
            [f"head series with unusable geometry ({lay.problem}): cannot check, assume a face"],
            seconds=time.perf_counter() - start,
            named=named,
        )
    found = head_gate(lay, series.modality, t)
    base = {
        "slices": len(lay.order) - lay.filled,
        "slices_missing": lay.filled,
        "slice_spacing_mm": round(lay.slice_spacing, 2),
        "header_names_head": named,
        "gate": {"head": found.head, **found.values},
    }
    if not found.head and not named and not found.partial:
        reason = f"not a head by its images ({found.describe()}); the header does not name one"
        return FaceResult(series.uid, "none", [reason], base, time.perf_counter() - start)
    result = judge(volume.read(lay, t.render_mm), series.modality, t, want_preview)
    result.series = series.uid
    result.named = named
    result.measured = {**base, **result.measured}
    if not found.head and not named:
        _settle_part(result, found, t)
    elif not found.head:
        result.reasons.append(f"checked because the header names the head ({found.describe()})")
    if lay.filled:
        result.reasons.append(
            f"{lay.filled} missing slice(s) stood in for by their neighbours"
        )
    result.seconds = round(time.perf_counter() - start, 3)
    return result
