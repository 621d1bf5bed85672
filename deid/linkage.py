"""Linkage tables: the only place original identifiers are written.

They go to a folder the user names (--mapping-dir), never into the output,
so the shared data and the key to re-link it stay apart. Rows are appended
as files finish (a crash loses nothing); at the end each table is rewritten
sorted and without repeats through a sorted spool, so the same inputs give
the same tables and memory does not grow with the number of UIDs.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TextIO

from deid.dicom_io import atomic_writer
from deid.spool import SortedSpool

UID_TABLE = "uid_mapping.csv"
PATIENT_TABLE = "patid_mapping.csv"
HEADER = ("id_old", "id_new")
# Rows seen recently are not appended again (files of one series repeat
# their study and series UIDs); the set is bounded, the final pass dedupes.
RECENT = 100_000


class LinkageTables:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._handles: dict[str, TextIO] = {}
        self._recent: dict[str, set[tuple[str, str]]] = {}
        for name in (UID_TABLE, PATIENT_TABLE):
            path = folder / name
            new = not path.exists() or path.stat().st_size == 0
            fh = path.open("a", newline="", encoding="utf-8")
            if new:
                csv.writer(fh).writerow(HEADER)
            self._handles[name] = fh
            self._recent[name] = set()

    def add(self, name: str, pairs: dict[str, str]) -> None:
        recent = self._recent[name]
        writer = csv.writer(self._handles[name])
        for pair in pairs.items():
            if pair not in recent:
                if len(recent) >= RECENT:
                    recent.clear()
                recent.add(pair)
                writer.writerow(pair)
        self._handles[name].flush()

    def close(self) -> None:
        for fh in self._handles.values():
            fh.close()
        for name in self._handles:
            path = self.folder / name
            with SortedSpool(self.folder) as spool:
                with path.open(newline="", encoding="utf-8") as fh:
                    for row in csv.reader(fh):
                        if len(row) == 2 and tuple(row) != HEADER:
                            spool.add(row[0] + "\x00" + row[1], row)
                with atomic_writer(path) as out:
                    writer = csv.writer(out, lineterminator="\n")
                    writer.writerow(HEADER)
                    previous = None
                    for key, row in spool:
                        if key != previous:
                            writer.writerow(row)
                            previous = key
