"""Face-risk thresholds: data in profiles/face/thresholds.toml, overridable."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from deid.data_files import read_toml
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

    def names_head(self, words: str) -> bool:
        """Whether body part / descriptions (upper case) say the head is imaged."""
        return any(
            w.startswith(h) for w in re.findall(r"[A-Z0-9]+", words) for h in self.head_words
        )


@cache
def load(*overrides: Path) -> Thresholds:
    merged: dict = {}
    for path in (DEFAULT, *overrides):
        for section, values in read_toml(path, "face thresholds").items():
            if not isinstance(values, dict):
                raise UsageError(f"{path}: [{section}] must be a table")
            merged.update(values)
    fields = Thresholds.__dataclass_fields__
    unknown = set(merged) - set(fields)
    if unknown:
        raise UsageError(f"unknown face threshold(s): {', '.join(sorted(unknown))}")
    for name, value in merged.items():
        _check_type(name, value, fields[name].type)
    try:
        return Thresholds(
            **{
                k: tuple(str(x).upper() for x in v) if isinstance(v, list) else v
                for k, v in merged.items()
            }
        )
    except TypeError as exc:
        raise UsageError(f"face thresholds: {exc}") from None


def _check_type(name: str, value: object, kind: object) -> None:
    """Each threshold as its field declares it: a whole number, a number, or
    a list of words."""
    if kind == "int":
        good = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "float":
        good = isinstance(value, int | float) and not isinstance(value, bool)
    else:
        good = isinstance(value, list) and all(isinstance(x, str) for x in value)
    if not good:
        what = {"int": "a whole number", "float": "a number"}.get(str(kind), "a list of words")
        raise UsageError(f"face thresholds: {name} must be {what}, not {value!r}")
