"""Face-risk thresholds: data in profiles/face/thresholds.toml, overridable.

Checked once when loaded (names, types, ranges given as [low, high]); the
face check trusts them afterwards.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from functools import cache, cached_property
from pathlib import Path
from typing import get_type_hints

from deid.data_files import read_toml
from deid.errors import UsageError
from deid.pixels.settings import DATA as PIXEL_DATA

DEFAULT = PIXEL_DATA.parent / "face" / "thresholds.toml"
Range = tuple[float, float]


@dataclass(frozen=True)
class Thresholds:
    modalities: tuple[str, ...]
    head_words: tuple[str, ...]
    min_slices: int
    max_slice_spacing_mm: float
    max_pixel_spacing_mm: float
    min_head_foot_mm: float
    min_across_mm: float
    gate_mm: float
    quick_slices: int
    gate_slices: int
    ct_bone_hu: float
    head_width_mm: Range
    head_depth_mm: Range
    head_depth_ratio: Range
    head_convexity: float
    head_run_mm: float
    part_run_max_mm: float
    dome_gap_mm: float
    skull_ring_share: float
    skull_ring_bands: int
    ct_skin_hu: float
    mr_skin_fraction: float
    render_mm: float
    body_mm: float
    min_face_mm: float
    cascade_scale: float
    nose_below_top_mm: Range
    face_below_top_mm: float
    face_above_nose_mm: float
    face_half_width_mm: float
    core_half_mm: float
    nose_half_width_mm: float
    orbit_half_width_mm: float
    nose_relief_mm: float
    orbit_depth_mm: float
    min_face_seen: float
    planar_share: float
    zeroed_fraction: float
    back_max_fraction: float
    detail_ratio: float
    noise_ratio: float
    edge_ratio: float
    top_above_nose_mm: float
    depth_behind_nose_mm: float
    half_width_mm: float
    brain_margin_mm: float

    def names_head(self, words: str) -> bool:
        """Whether body part / descriptions (upper case) say the head is imaged:
        a word starting with a head word (every CT/MR/PT file asks this)."""
        return self._head_pattern.search(words) is not None

    @cached_property
    def _head_pattern(self) -> re.Pattern[str]:
        starts = "|".join(sorted(map(re.escape, self.head_words), key=len, reverse=True))
        return re.compile(rf"(?<![A-Z0-9])(?:{starts})")


def _value(name: str, kind: object, value: object) -> object:
    """One threshold as its declared type, or a one-line reason why not."""
    if kind == tuple[str, ...]:
        if isinstance(value, list) and all(isinstance(x, str) for x in value):
            return tuple(x.upper() for x in value)
        raise UsageError(f"face threshold {name} must be a list of words")
    if kind == Range:
        if (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(x, int | float) and not isinstance(x, bool) for x in value)
            and value[0] <= value[1]
        ):
            return (float(value[0]), float(value[1]))
        raise UsageError(f"face threshold {name} must be [low, high] numbers")
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is float and isinstance(value, int | float) and not isinstance(value, bool):
        if value != value or value in (float("inf"), float("-inf")):
            raise UsageError(f"face threshold {name} must be a finite number")
        return float(value)
    raise UsageError(f"face threshold {name} must be {getattr(kind, '__name__', kind)}")


def load(*overrides: Path) -> Thresholds:
    """The defaults, read once; override files are read every time: cached by
    their paths, a file edited between two runs of one process (the library,
    a test) kept its old thresholds."""
    return _merged((DEFAULT, *overrides)) if overrides else _defaults()


@cache
def _defaults() -> Thresholds:
    return _merged((DEFAULT,))


def _merged(paths: tuple[Path, ...]) -> Thresholds:
    merged: dict = {}
    for path in paths:
        for section, values in read_toml(path, "face thresholds").items():
            if not isinstance(values, dict):
                raise UsageError(f"{path}: [{section}] must be a table")
            merged.update(values)
    kinds = get_type_hints(Thresholds)
    names = {f.name for f in fields(Thresholds)}
    unknown = set(merged) - names
    if unknown:
        raise UsageError(f"unknown face threshold(s): {', '.join(sorted(unknown))}")
    missing = names - set(merged)
    if missing:
        raise UsageError(f"face thresholds missing: {', '.join(sorted(missing))}")
    return Thresholds(**{k: _value(k, kinds[k], v) for k, v in merged.items()})
