"""A sorted spool: records go to disk in sorted chunks and come back merged.

Reports and linkage tables are sorted, so the same inputs give the same
files, but a batch of 10^7 files cannot be held in memory to sort. Chunks of
a bounded size are sorted and written to a private temporary folder;
reading merges them lazily (heapq.merge), so memory stays flat however many
records there are.
"""

from __future__ import annotations

import heapq
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHUNK = 4096


class SortedSpool:
    def __init__(self, folder: Path, chunk: int = CHUNK) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._dir = Path(tempfile.mkdtemp(prefix=".deid-spool-", dir=folder))
        self._chunk = chunk
        self._buffer: list[tuple[str, str]] = []
        self._files: list[Path] = []
        self.count = 0

    def add(self, key: str, record: Any) -> None:
        self._buffer.append((key, json.dumps(record, ensure_ascii=False)))
        self.count += 1
        if len(self._buffer) >= self._chunk:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        path = self._dir / f"chunk-{len(self._files):06d}.jsonl"
        with path.open("w", encoding="utf-8") as fh:
            for key, data in sorted(self._buffer):
                fh.write(json.dumps(key, ensure_ascii=False) + "\t" + data + "\n")
        self._files.append(path)
        self._buffer = []

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        """Every record, sorted by key (ties keep no particular order)."""
        self._flush()
        handles = [path.open(encoding="utf-8") for path in self._files]
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


def _parse(line: str) -> tuple[str, Any]:
    key, _, data = line.partition("\t")
    return json.loads(key), json.loads(data)
