"""Known places where devices burn text in: data, not code.

A rule names a manufacturer/model (and optionally an image size) and the
rectangles its banner occupies; ultrasound files can also declare where the
image data is (SequenceOfUltrasoundRegions), which makes the rest of the
screen the place text lives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from deid.data_files import malformed, only_keys, read_toml
from deid.errors import UsageError


@dataclass(frozen=True)
class RegionRule:
    manufacturer: re.Pattern[str]
    model: re.Pattern[str]
    rows: int | None
    columns: int | None
    rects: tuple[tuple[int, int, int, int], ...]
    ultrasound_outside_regions: bool
    where: str  # file:rule number, for findings

    def matches(self, ds: Dataset) -> bool:
        if not self.manufacturer.search(str(ds.get("Manufacturer", "") or "")):
            return False
        if not self.model.search(str(ds.get("ManufacturerModelName", "") or "")):
            return False
        if self.rows is not None and int(ds.get("Rows", 0) or 0) != self.rows:
            return False
        return self.columns is None or int(ds.get("Columns", 0) or 0) == self.columns


RULE_KEYS = frozenset(
    {"manufacturer", "model", "rows", "columns", "rects", "ultrasound_outside_regions"}
)


def _rule(path: Path, index: int, raw: dict) -> RegionRule:
    where = f"{path}: rule {index + 1}"
    only_keys(path, f"rule {index + 1}", raw, RULE_KEYS)
    try:
        rects = tuple(tuple(_pixels(v, "rects") for v in r) for r in raw.get("rects", []))
        if any(len(r) != 4 or r[2] <= 0 or r[3] <= 0 for r in rects):
            raise ValueError("each rect is [x, y, width, height] with positive size")
        outside = raw.get("ultrasound_outside_regions", False)
        if not isinstance(outside, bool):  # "no" was read as true
            raise ValueError("ultrasound_outside_regions must be true or false")
        return RegionRule(
            re.compile(str(raw.get("manufacturer", "")), re.IGNORECASE),
            re.compile(str(raw.get("model", "")), re.IGNORECASE),
            _pixels(raw["rows"], "rows") if "rows" in raw else None,
            _pixels(raw["columns"], "columns") if "columns" in raw else None,
            rects,  # type: ignore[arg-type]
            outside,
            where,
        )
    except (TypeError, ValueError, re.error) as exc:
        raise UsageError(f"{where}: {exc}") from exc


def _pixels(value: object, name: str) -> int:
    """A whole number of pixels: 1e309 (infinity) ended in a traceback."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or abs(value) > MAX_PIXELS:
        raise ValueError(f"{name}: whole numbers of pixels only (at most {MAX_PIXELS})")
    return value


MAX_PIXELS = 1 << 31


@cache
def load_rules(*paths: Path) -> tuple[RegionRule, ...]:
    rules: list[RegionRule] = []
    for path in paths:
        data = read_toml(path, "region rules")
        only_keys(path, "region rules", data, frozenset({"rule"}))
        with malformed(path, "region rules"):
            rules += [_rule(path, i, raw) for i, raw in enumerate(data.get("rule", []))]
    return tuple(rules)


def data_regions(ds: Dataset) -> list[tuple[int, int, int, int]]:
    """Where an ultrasound file says its image data is (x, y, w, h): tissue,
    colour flow, spectral Doppler; the rest of the screen is where text lives."""
    out = []
    for item in ds.get("SequenceOfUltrasoundRegions", []) or []:
        try:
            x0, y0 = int(item.RegionLocationMinX0), int(item.RegionLocationMinY0)
            x1, y1 = int(item.RegionLocationMaxX1), int(item.RegionLocationMaxY1)
        except (AttributeError, TypeError, ValueError):
            continue
        if x1 > x0 and y1 > y0:
            out.append((x0, y0, x1 - x0 + 1, y1 - y0 + 1))
    return out


def rule_mask(
    ds: Dataset, rules: tuple[RegionRule, ...], shape: tuple[int, int]
) -> tuple[np.ndarray | None, list[str]]:
    """Pixels the matching rules say to redact, and which rules matched."""
    mask = None
    used = []
    for rule in rules:
        if not rule.matches(ds):
            continue
        if mask is None:
            mask = np.zeros(shape, bool)
        for x, y, w, h in rule.rects:
            mask[max(0, y) : y + h, max(0, x) : x + w] = True
        if rule.ultrasound_outside_regions:
            regions = data_regions(ds)
            if regions:
                outside = np.ones(shape, bool)
                for x, y, w, h in regions:
                    outside[y : y + h, x : x + w] = False
                mask |= outside
        used.append(rule.where)
    return mask, used
