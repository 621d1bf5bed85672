"""Linkage tables: the only place original identifiers are written.

They go to a folder the user names (--mapping-dir), never into the output,
so the shared data and the key to re-link it stay apart. Rows are appended
as files finish (a crash loses nothing) and rewritten sorted and unique at
the end, so the same inputs give the same tables.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from deid.dicom_io import atomic_write

UID_TABLE = "uid_mapping.csv"
PATIENT_TABLE = "patient_id_mapping.csv"
HEADER = ("id_old", "id_new")


class LinkageTables:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.tables: dict[str, dict[str, str]] = {UID_TABLE: {}, PATIENT_TABLE: {}}
        folder.mkdir(parents=True, exist_ok=True)
        for name, rows in self.tables.items():
            path = folder / name
            if path.exists():
                with path.open(newline="", encoding="utf-8") as fh:
                    for row in csv.reader(fh):
                        if len(row) == 2 and tuple(row) != HEADER:
                            rows[row[0]] = row[1]
        self._handles = {}
        for name in self.tables:
            path = folder / name
            new = not path.exists() or path.stat().st_size == 0
            fh = path.open("a", newline="", encoding="utf-8")
            if new:
                csv.writer(fh).writerow(HEADER)
            self._handles[name] = fh

    def add(self, name: str, pairs: dict[str, str]) -> None:
        rows = self.tables[name]
        writer = csv.writer(self._handles[name])
        for old, new in pairs.items():
            if old not in rows:
                rows[old] = new
                writer.writerow((old, new))
        self._handles[name].flush()

    def close(self) -> None:
        for fh in self._handles.values():
            fh.close()
        for name, rows in self.tables.items():
            lines = [",".join(HEADER)] + [_csv_line(old, new) for old, new in sorted(rows.items())]
            data = ("\n".join(lines) + "\n").encode("utf-8")
            atomic_write(self.folder / name, data, durable=True)


def _csv_line(old: str, new: str) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow((old, new))
    return buf.getvalue()
