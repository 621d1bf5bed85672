"""The standard's IOD tables: which attributes an object has, and their types.

Generated data (profiles/standard/iods.json.gz, from the standard's module
and IOD definitions); nothing here is typed by hand. A decision asks for an
attribute's type at its place: the enclosing sequences and the tag.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from deid.pixels.settings import DATA as PIXEL_DATA

TABLE = PIXEL_DATA.parent / "standard" / "iods.json.gz"
# Stricter first: when one place has two types (two modules), the stricter holds.
RANK = {"1": 0, "1C": 1, "2": 2, "2C": 3, "3": 4}
REQUIRED = frozenset({"1", "1C"})  # present with a value
PRESENT = frozenset({"2", "2C"})  # present, may be empty
# Keys a DICOMDIR record requires (Type 1) of every file it indexes (PS3.3
# F.5, Tables F.5-1 Patient Keys and F.5-2 Study Keys). Where a profile
# empties one of them, a dummy is written instead (Z permits a dummy), so a
# de-identified set can still be indexed.
DIRECTORY_KEYS = frozenset({0x00100020, 0x00080020, 0x00080030, 0x00200010})


@cache
def _table() -> dict:
    return json.loads(gzip.decompress(Path(TABLE).read_bytes()))


def load() -> None:
    """Read the tables now (a process about to fork workers shares them)."""
    _table()


def source() -> str:
    return _table()["source"]


def _fold(tag: int) -> int:
    """Repeating groups (overlays 6000-601E) share one entry under 6000."""
    group = tag >> 16
    if 0x6000 <= group <= 0x601E and not group & 1:
        return 0x60000000 | (tag & 0xFFFF)
    return tag


@dataclass(frozen=True)
class IodTypes:
    """One IOD's attributes: tag -> every (enclosing sequences, type) it has."""

    name: str
    places: dict[int, tuple[tuple[tuple[int, ...], str], ...]]

    def type_at(self, parents: tuple[int, ...], tag: int) -> str | None:
        """The type at this place, or None when the IOD has no such attribute.

        Recursive structures (SR content trees, nested functional groups) are
        deeper in files than in the tables: the entry whose enclosing
        sequences share the longest tail with the actual ones answers, and
        the immediate parent must agree.
        """
        entries = self.places.get(_fold(tag))
        if not entries:
            return None
        best, best_len = None, -1
        for path, kind in entries:
            if path == parents:
                return kind
            common = _common_tail(path, parents)
            if common == 0:
                continue
            if common > best_len or (common == best_len and _stricter(kind, best)):
                best, best_len = kind, common
        return best if best_len > 0 else None


def _common_tail(a: tuple[int, ...], b: tuple[int, ...]) -> int:
    n = 0
    while n < len(a) and n < len(b) and a[-1 - n] == b[-1 - n]:
        n += 1
    return n


def _stricter(kind: str, than: str | None) -> bool:
    return than is None or RANK[kind] < RANK[than]


def for_sop_class(uid: str) -> IodTypes | None:
    """The IOD of a SOP class, or None for classes the standard does not define
    (private SOP classes): decisions then fall back to their safe default."""
    iod = _table()["sop_classes"].get(uid.strip())  # strip: a plain str, one cache key
    return _iod_types(iod) if iod is not None else None


@lru_cache(maxsize=64)
def _iod_types(iod: str) -> IodTypes:
    table = _table()
    merged: dict[tuple[tuple[int, ...], int], str] = {}
    for module, _usage in table["iods"].get(iod, ()):
        for row in table["modules"].get(module, ()):
            *tags, kind = row
            *parents, tag = (int(t, 16) for t in tags)
            key = (tuple(parents), tag)
            if key not in merged or RANK[kind] < RANK[merged[key]]:
                merged[key] = kind
    places: dict[int, list[tuple[tuple[int, ...], str]]] = {}
    for (parents, tag), kind in merged.items():
        places.setdefault(tag, []).append((parents, kind))
    return IodTypes(iod, {tag: tuple(v) for tag, v in places.items()})
