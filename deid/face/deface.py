"""`deid run --deface`: remove the face from a head series' outputs.

The face region comes from the assessment (`Cut`, in patient mm): the
voxels in front of a plane behind the eyes, below a plane under the brain
and within the face's width. Each output slice is mapped to patient space
with its own geometry, so every plane and orientation is cut alike, and
voxels inside the region are set to the series' background (what air
holds in this series). The pixel data keeps its transfer syntax where a
lossless encoder exists, as burned-in text redaction does. The outputs are
then assessed again as a head; only what that says is reported and marked.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom

from deid.dicom_io import atomic_write, transfer_syntax
from deid.face.assess import Cut, FaceResult, assess
from deid.face.geometry import Series, SliceGeometry
from deid.face.thresholds import Thresholds
from deid.part10 import encode
from deid.paths import open_regular
from deid.pixels.frames import decode
from deid.pixels.redact import store
from deid.safetext import without_values


@dataclass
class _Tally:
    voxels: int = 0
    removed: int = 0
    changed: int = 0
    sizes: dict[str, int] = field(default_factory=dict)
    notes: set[str] = field(default_factory=set)
    failed: list[str] = field(default_factory=list)
    geometry: list[SliceGeometry] = field(default_factory=list)


def _coordinates(g: SliceGeometry, position: tuple[float, ...]) -> tuple[np.ndarray, ...]:
    """Patient x, y, z of every pixel of one frame (broadcast rows x cols)."""
    assert g.orientation is not None and g.spacing is not None
    row_dir, col_dir = np.array(g.orientation[:3]), np.array(g.orientation[3:])
    r = np.arange(g.rows, dtype=np.float64)[:, None] * g.spacing[0]
    c = np.arange(g.columns, dtype=np.float64)[None, :] * g.spacing[1]
    return tuple(position[k] + c * row_dir[k] + r * col_dir[k] for k in range(3))


def _fill(cut: Cut, scale: tuple[float, float], dtype: np.dtype) -> int | float:
    slope, intercept = scale
    raw = (cut.fill - intercept) / (slope or 1.0)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return int(np.clip(round(raw), info.min, info.max))
    return float(raw)


def _deface_file(path: Path, cut: Cut, tally: _Tally, root: Path | None = None) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with open_regular(path) as fh:
            ds = pydicom.dcmread(fh)
    g = SliceGeometry.from_dataset(ds, str(path))
    positions = g.frame_positions or ((g.position,) if g.position else ())
    if g.orientation is None or g.spacing is None or not positions:
        raise ValueError("no patient geometry: the face region cannot be placed")
    tally.voxels += g.rows * g.columns * len(positions)
    masks = [cut.mask(*_coordinates(g, p)) for p in positions]
    if not any(m.any() for m in masks):
        tally.geometry.append(g)
        return
    pixels = decode(ds)
    for index, (frame, mask) in enumerate(zip(pixels.frames, masks, strict=True)):
        fill = _fill(cut, g.scale(index), pixels.frames.dtype)
        tally.removed += int(mask.sum())
        tally.changed += int((frame[mask] != fill).sum())
        frame[mask] = fill
    ts, note = store(ds, pixels, transfer_syntax(ds))
    ds.file_meta.TransferSyntaxUID = ts
    if note:
        tally.notes.add(note)
    data = encode(ds)
    atomic_write(path, data, root=root)
    tally.sizes[str(path)] = len(data)
    tally.geometry.append(SliceGeometry.from_dataset(ds, str(path)))


def deface_series(
    result: FaceResult,
    outputs: list[tuple[str, str]],
    root: Path,
    t: Thresholds,
    previews: bool = False,
) -> dict[str, int]:
    """Deface the outputs of a `medium`/`high` series in place, re-assess
    them and update `result` to what the outputs now show. Returns the new
    size of each rewritten output, by its path relative to `root`."""
    if result.cut is None or result.level not in ("medium", "high") or not outputs:
        return {}
    tally = _Tally()
    for _, relative in outputs:
        try:
            _deface_file(root / relative, result.cut, tally, root)
        except Exception as exc:  # noqa: BLE001 - reported; the series keeps its level
            tally.failed.append(
                f"{relative}: {type(exc).__name__}: {without_values(str(exc))[:120]}"
            )
    after = _reassess(result.series, tally.geometry, t, previews)
    _record(result, tally, after)
    return {str(Path(p).relative_to(root)): size for p, size in tally.sizes.items()}


def _reassess(uid: str, geometry: list[SliceGeometry], t: Thresholds, previews: bool) -> FaceResult:
    if not geometry:
        return FaceResult(uid, "high", ["no output could be read again"])
    first = geometry[0]
    series = Series(uid, first.modality, first.words, geometry)
    return assess(series, t, previews, assume_head=True)


def _record(result: FaceResult, tally: _Tally, after: FaceResult) -> None:
    before = result.level
    share = tally.removed / tally.voxels if tally.voxels else 0.0
    result.after = {
        "level_before": before,
        "reasons_before": result.reasons,
        "level_after": after.level,
        "files_rewritten": len(tally.sizes),
        "voxels_removed_share": round(share, 4),
        "voxels_changed_share": round(tally.changed / tally.voxels if tally.voxels else 0.0, 4),
        "fill": round(result.cut.fill, 1) if result.cut else None,
        "top_lowered_for_brain": bool(result.cut and result.cut.lowered),
        "notes": sorted(tally.notes),
        "failed": tally.failed[:20],
        "measured_after": after.measured,
    }
    result.preview_after = after.preview
    if tally.failed:
        result.reasons = [
            f"--deface failed on {len(tally.failed)} file(s) (first: {tally.failed[0]}): "
            f"the series keeps its level"
        ] + result.reasons
        return
    done = (
        f"defaced by deid (--deface): {share:.1%} of the voxels set to the background "
        f"({result.after['fill']:g}); re-assessed {after.level}"
    )
    if after.level in ("none", "low"):
        result.level = after.level
        result.reasons = [done + ": " + "; ".join(after.reasons)]
    else:
        result.level = after.level
        result.reasons = [done + ": the face was not removed: " + "; ".join(after.reasons)]
