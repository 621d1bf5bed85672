"""Bounded-memory collections for batches of any size.

A sorted spool: records go to disk in sorted chunks and come back merged.

Reports and linkage tables are sorted, so the same inputs give the same
files, but a batch of 10^7 files cannot be held in memory to sort. Chunks of
a bounded size are sorted and written to a private temporary folder;
reading merges them lazily (heapq.merge), so memory stays flat however many
records there are. TopN keeps only the few records a person will read
(the worst files for report.html and the console).
"""

from __future__ import annotations

import heapq
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Generic, TypeVar

T = TypeVar("T")

CHUNK = 4096  # records per sorted chunk at most...
CHUNK_BYTES = 8 << 20  # ...and bytes: one file's entry can hold thousands of findings
PREFIX = ".deid-spool-"
# Keys and records hold file names, and a Linux name need not be UTF-8
# (Python keeps its bytes as lone surrogates). The spool is private and read
# only by this module, so it stores them as they are.
ENCODING = {"encoding": "utf-8", "errors": "surrogatepass"}
FAN_IN = 64  # chunk files merged at once: open files stay far below the usual limit


class SortedSpool:
    def __init__(self, folder: Path | None = None, chunk: int | None = None) -> None:
        """The spool is a private folder inside `folder` (the system temporary
        folder by default)."""
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
        self._dir = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=folder))
        self._chunk = chunk or CHUNK
        self._buffer: list[tuple[str, str]] = []
        self._bytes = 0
        self._levels: list[list[Path]] = [[]]  # sorted runs, by how often merged
        self._runs = 0
        self.count = 0

    @staticmethod
    def clear_stale(folder: Path | None = None) -> None:
        """Spools left in `folder` (the system temporary folder by default)
        by a killed process are never read again. Only spools of this user,
        named by a process that is gone, are removed: another deid's spool
        in the same folder is in use, and a link is not followed."""
        folder = Path(tempfile.gettempdir()) if folder is None else folder
        try:
            entries = list(os.scandir(folder))
        except OSError:
            return
        for entry in entries:
            match = _SPOOL.match(entry.name)
            if not match or not entry.is_dir(follow_symlinks=False):
                continue
            try:
                if entry.stat(follow_symlinks=False).st_uid != os.getuid():
                    continue
            except OSError:
                continue
            if _alive(int(match.group(1))):
                continue
            shutil.rmtree(entry.path, ignore_errors=True)

    def add(self, key: str, record: Any) -> None:
        data = json.dumps(record, ensure_ascii=False)
        self._buffer.append((key, data))
        self._bytes += len(data)
        self.count += 1
        if len(self._buffer) >= self._chunk or self._bytes >= CHUNK_BYTES:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        path = self._next_path()
        with path.open("w", **ENCODING) as fh:
            for key, data in sorted(self._buffer):
                fh.write(json.dumps(key, ensure_ascii=False) + "\t" + data + "\n")
        self._levels[0].append(path)
        self._buffer = []
        self._bytes = 0
        level = 0
        while len(self._levels[level]) >= FAN_IN:
            self._merge(level)
            level += 1

    def _next_path(self) -> Path:
        self._runs += 1
        return self._dir / f"run-{self._runs:08d}.jsonl"

    def _merge(self, level: int) -> None:
        """FAN_IN runs of one level become one run of the next: each record is
        rewritten only log_FAN_IN(n) times, and reading never needs more than
        FAN_IN open files per level however many records there are."""
        runs = self._levels[level]
        path = self._next_path()
        with path.open("w", **ENCODING) as out:
            out.writelines(heapq.merge(*(self._lines(f) for f in runs), key=_key))
        for old in runs:
            old.unlink()
        self._levels[level] = []
        if level + 1 == len(self._levels):
            self._levels.append([])
        self._levels[level + 1].append(path)

    @staticmethod
    def _lines(path: Path) -> Iterator[str]:
        with path.open(**ENCODING) as fh:
            yield from fh

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        """Every record, sorted by key (ties keep no particular order)."""
        self._flush()
        handles = [path.open(**ENCODING) for level in self._levels for path in level]
        try:
            streams = [(_parse(line) for line in fh) for fh in handles]
            yield from heapq.merge(*streams, key=lambda item: item[0])
        finally:
            for fh in handles:
                fh.close()

    def close(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> SortedSpool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TopN(Generic[T]):
    """The `limit` records with the smallest keys, in key order.

    Holds at most twice the limit: when full, it sorts and drops the rest,
    so adding is cheap on average and memory never follows the batch.
    """

    def __init__(self, limit: int, on_drop: Callable[[T], None] | None = None) -> None:
        """`on_drop` is told of each record dropped (to free what it holds)."""
        self.limit = limit
        self.seen = 0
        self._items: list[tuple[Any, T]] = []
        self._on_drop = on_drop
        self._last: Any = None  # the last key kept when full: later keys cannot be

    def admits(self, key: Any) -> bool:
        """Whether a record with `key` could be kept: callers skip building
        (or writing) what would be dropped. It still counts as seen."""
        return self._last is None or key < self._last

    def add(self, key: Any, item: T) -> None:
        self.seen += 1
        if not self.admits(key):
            return
        self._items.append((key, item))
        if len(self._items) >= 2 * self.limit:
            self._trim()

    def skip(self) -> None:
        """Count a record `admits` refused."""
        self.seen += 1

    def _trim(self) -> None:
        self._items.sort(key=lambda pair: pair[0])
        if self._on_drop is not None:
            for _, item in self._items[self.limit :]:
                self._on_drop(item)
        del self._items[self.limit :]
        if len(self._items) >= self.limit:
            self._last = self._items[-1][0]

    def items(self) -> list[T]:
        self._trim()
        return [item for _, item in self._items]


_SPOOL = re.compile(re.escape(PREFIX) + r"(\d+)-")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, another user's
        return True
    return True


def _key(line: str) -> str:
    return json.loads(line.partition("\t")[0])


def _parse(line: str) -> tuple[str, Any]:
    key, _, data = line.partition("\t")
    return json.loads(key), json.loads(data)
