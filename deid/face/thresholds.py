"""Face-risk thresholds: data in profiles/face/thresholds.toml, overridable."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from deid.errors import UsageError
from deid.pixels.settings import DATA as PIXEL_DATA

DEFAULT = PIXEL_DATA.parent / "face" / "thresholds.toml"


@dataclass(frozen=True)
class Thresholds:
    modalities: tuple[str, ...]
    head_words: tuple[str, ...]
    min_slices: int
    max_slice_spacing_mm: float
    max_pixel_spacing_mm: float
    min_head_foot_mm: float
    min_across_mm: float
    ct_skin_hu: float
    mr_skin_fraction: float
    render_mm: float
    min_face_mm: float
    nose_protrusion_mm: float
    zeroed_fraction: float
    back_max_fraction: float


def _read(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read face thresholds: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: {exc}") from exc


@cache
def load(*overrides: Path) -> Thresholds:
    merged: dict = {}
    for path in (DEFAULT, *overrides):
        for section, values in _read(path).items():
            if not isinstance(values, dict):
                raise UsageError(f"{path}: [{section}] must be a table")
            merged.update(values)
    fields = Thresholds.__dataclass_fields__
    unknown = set(merged) - set(fields)
    if unknown:
        raise UsageError(f"unknown face threshold(s): {', '.join(sorted(unknown))}")
    try:
        return Thresholds(
            **{
                k: tuple(str(x).upper() for x in v) if isinstance(v, list) else v
                for k, v in merged.items()
            }
        )
    except TypeError as exc:
        raise UsageError(f"face thresholds: {exc}") from exc
