"""Linkage tables: the only place original identifiers are written.

They go to a folder the user names (--mapping-dir), never into the output,
so the shared data and the key to re-link it stay apart. Rows are appended
as files finish (a crash loses nothing); at the end each table is rewritten
sorted and without repeats through a sorted spool, so the same inputs give
the same tables and memory does not grow with the number of UIDs.

Original IDs are whatever the data held, so a cell that a spreadsheet would
run as a formula (`=HYPERLINK(...)`, `+cmd|...`, `@SUM(...)`) gets a
leading apostrophe, and so does one that already starts with one: removing
exactly one leading apostrophe gives back every value (`read_table`). The
tables are readable by their owner only, and never written through a link.
"""

from __future__ import annotations

import csv
import errno
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from deid.errors import OutputError, folder_error
from deid.safetext import from_spreadsheet_cell, spreadsheet_cell
from deid.spool import SortedSpool
from deid.writing import atomic_writer, open_append, open_no_follow

UID_TABLE = "uid_mapping.csv"
PATIENT_TABLE = "patid_mapping.csv"
HEADER = ("id_old", "id_new")
# Rows seen recently are not appended again (files of one series repeat
# their study and series UIDs); the set is bounded, the final pass dedupes.
RECENT = 100_000
PRIVATE = 0o600


class LinkageTables:
    @staticmethod
    def prepare(folder: Path) -> None:
        """The folder, made readable by its owner only if deid creates it."""
        with _faults(folder):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._handles: dict[str, TextIO] = {}
        self._recent: dict[str, set[tuple[str, str]]] = {}
        self.prepare(folder)
        with _faults(folder):
            for name in (UID_TABLE, PATIENT_TABLE):
                fh = open_append(folder / name, PRIVATE)
                self._handles[name] = fh
                if fh.tell() == 0:
                    csv.writer(fh).writerow(HEADER)
                self._recent[name] = set()

    def add(self, name: str, pairs: dict[str, str]) -> None:
        recent = self._recent[name]
        writer = csv.writer(self._handles[name])
        for pair in pairs.items():
            if pair not in recent:
                if len(recent) >= RECENT:
                    recent.clear()
                recent.add(pair)
                writer.writerow([spreadsheet_cell(value) for value in pair])
        with _faults(self.folder):
            self._handles[name].flush()

    def close(self) -> None:
        with _faults(self.folder):
            for fh in self._handles.values():
                fh.close()
            for name in self._handles:
                self._rewrite(self.folder / name)

    def _rewrite(self, path: Path) -> None:
        """Sorted and without repeats; cells are copied as written."""
        with SortedSpool(self.folder) as spool:
            with open_no_follow(path) as fh:
                for row in csv.reader(fh):
                    if len(row) == 2 and tuple(row) != HEADER:
                        spool.add(row[0] + "\x00" + row[1], row)
            with atomic_writer(path, mode=PRIVATE) as out:
                writer = csv.writer(out, lineterminator="\n")
                writer.writerow(HEADER)
                previous = None
                for key, row in spool:
                    if key != previous:
                        writer.writerow(row)
                        previous = key


def read_table(path: Path) -> Iterator[tuple[str, str]]:
    """(original, pseudonym) pairs of a linkage table, exactly as they were."""
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.reader(fh):
            if len(row) == 2 and tuple(row) != HEADER:
                yield from_spreadsheet_cell(row[0]), from_spreadsheet_cell(row[1])


@contextmanager
def _faults(folder: Path) -> Iterator[None]:
    """OSError as a one-line OutputError naming the folder and the reason
    (read-only, full, a symbolic link where a table belongs)."""
    try:
        yield
    except OSError as exc:
        message = f"cannot write linkage tables in {folder}"
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a link
            reason = "a symbolic link stands where a table belongs; deid never writes through one"
            raise OutputError(f"{message}: {reason}") from None
        raise folder_error(message, exc) from None
