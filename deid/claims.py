"""One output per object: which input wins when several hold the same object.

Two inputs with the same patient, study, series and SOP Instance UIDs would
be written to the same output. Which one wins must not depend on worker
timing or the executor: the first in input order does (inputs in the order
named, folders sorted, files in listing order), decided in the main process
before any work is sent, so a dry run reports the same clashes as a run.
The others are reported: an identical copy is skipped, a different object
under the same UIDs is a failure.

Claims are kept in SQLite's anonymous temporary database (spilled to an
already-unlinked file in the system's temporary folder; never in OUT):
memory does not grow with the batch, and nothing outlives the process.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
import warnings
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

from pydicom.datadict import tag_for_keyword
from pydicom.filereader import read_partial

from deid.header_keys import top_level_values
from deid.paths import open_regular
from deid.scrub import PATIENT_KEYWORDS, patient_key_of

_KEYS = (*PATIENT_KEYWORDS, "SeriesInstanceUID", "SOPInstanceUID")
_TAGS = tuple(int(tag_for_keyword(k)) for k in _KEYS)  # type: ignore[arg-type]
_TAG_SET = frozenset(_TAGS)
_SERIES_UID = 0x0020000E
HEAD_BYTES = 1 << 16  # the UIDs sit in the first groups of a header


def _past_series(tag: int, vr: str | None, length: int) -> bool:
    return int.__gt__(tag, _SERIES_UID)  # BaseTag's own comparison is slow Python


IDENTICAL = "an identical copy of an earlier input (same object, same bytes): skipped"
CLASH = (
    "duplicate SOP Instance UID: an earlier input (first in input order) holds the same "
    "patient, study, series and instance UIDs with other content and is the one written"
)
_PENDING, _PRODUCED, _FAILED = 0, 1, 2


class Claims:
    """The first input seen for each object; later ones learn who came first.

    A later input with other content waits (`wait`) until the claimant's
    outcome is known (`settle`): if the claimant cannot be written (cut
    short, unreadable), the claim passes to the next in input order
    (`passed_on`), so an intact copy is not lost to a broken one. Those
    left once every claimant stands are refused (`refused`)."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        # SQLite's own temporary database: pages beyond its cache go to a
        # file it unlinks as it opens it, so nothing is left on disk even
        # when deid is killed (a named file outlived `kill -9`).
        self._db = sqlite3.connect("")
        # Paths as bytes: a Linux file name need not be valid UTF-8.
        self._db.execute(
            "CREATE TABLE claim (object BLOB PRIMARY KEY, path BLOB, state INTEGER DEFAULT 0)"
        )
        self._db.execute("CREATE INDEX claim_path ON claim (path)")
        # `compared`: the claimant the input was found to differ from.
        self._db.execute(
            "CREATE TABLE waiting (n INTEGER PRIMARY KEY, object BLOB, path BLOB, compared BLOB)"
        )

    def earlier(self, path: Path) -> str | None:
        """The input that claimed this file's object first, or None (this one
        claims it now; files whose UIDs cannot be read claim nothing)."""
        ident = self._object(path)
        if ident is None:
            return None
        row = self._db.execute("SELECT path FROM claim WHERE object = ?", (ident,)).fetchone()
        if row is not None:
            return os.fsdecode(row[0])
        self._db.execute("INSERT INTO claim VALUES (?, ?, ?)", (ident, os.fsencode(path), _PENDING))
        return None

    def wait(self, path: Path, claimant: str) -> None:
        """`path` holds the claimant's object with other content: it is
        processed only if the claimant cannot be written."""
        self._db.execute(
            "INSERT INTO waiting (object, path, compared) SELECT object, ?, path FROM claim "
            "WHERE path = ?",
            (os.fsencode(path), os.fsencode(claimant)),
        )

    def settle(self, path: str, produced: bool) -> None:
        """A claimant's outcome: written (or would be), or not."""
        self._db.execute(
            "UPDATE claim SET state = ? WHERE path = ? AND state = ?",
            (_PRODUCED if produced else _FAILED, os.fsencode(path), _PENDING),
        )

    def passed_on(self) -> list[str]:
        """The next waiting input of each object whose claimant failed; each
        is its object's claimant now."""
        rows = self._db.execute(
            "SELECT w.n, w.object, w.path FROM waiting w JOIN claim c ON c.object = w.object "
            "WHERE c.state = ? AND w.n = (SELECT MIN(n) FROM waiting WHERE object = w.object) "
            "ORDER BY w.n",
            (_FAILED,),
        ).fetchall()
        for n, ident, path in rows:
            self._db.execute(
                "UPDATE claim SET path = ?, state = ? WHERE object = ?", (path, _PENDING, ident)
            )
            self._db.execute("DELETE FROM waiting WHERE n = ?", (n,))
        return [os.fsdecode(path) for _, _, path in rows]

    def refused(self) -> Iterator[tuple[str, str, bool]]:
        """(input, the claimant written instead, whether the input was
        compared with that claimant already) for every input still waiting,
        in input order."""
        rows = self._db.execute(
            "SELECT w.path, c.path, w.compared = c.path FROM waiting w "
            "JOIN claim c ON c.object = w.object ORDER BY w.n"
        )
        for path, claimant, compared in rows:
            yield os.fsdecode(path), os.fsdecode(claimant), bool(compared)

    def _object(self, path: Path) -> bytes | None:
        try:
            with open_regular(path) as fh:
                head = fh.read(HEAD_BYTES)
        except OSError:
            return None  # the per-file step reports unreadable files
        values = _values(head)
        if values is None or not all(values[-3:]):
            return None  # study, series and instance UIDs all read, or no claim
        # The output's place: the patient as outputs are filed (the ID, else
        # name and birth date), then the UIDs. Two inputs that would write
        # one output are one claim, whatever else differs between them.
        who = patient_key_of(*values[: len(PATIENT_KEYWORDS)])
        message = "\x00".join([who, *values[-3:]]).encode("utf-8", "surrogateescape")
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def close(self) -> None:
        self._db.close()


def _values(head: bytes) -> list[str] | None:
    """The keys' values from a header's start: walked directly where that
    gives what pydicom gives (deid.header_keys), else read by pydicom."""
    found = top_level_values(head, _TAG_SET)
    if found is not None:
        return [found[tag] for tag in _TAGS]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # Only the header's start, never inflated or read whole in this
            # process (a deflated data set or a huge element there claims
            # nothing: the worker, with its limits, reads it).
            ds = read_partial(BytesIO(head), stop_when=_past_series, defer_size=4096, force=True)
            # Values are decoded here, on first access: a VR pydicom does not
            # know raises then, not while reading.
            return [str(ds.get(k, "") or "").strip() for k in _KEYS]
    except Exception:  # noqa: BLE001 - the per-file step reports unreadable files
        return None


def verdict(path: Path, earlier: str) -> tuple[bool, str]:
    """(identical, reason) for an input whose object an earlier one holds."""
    try:
        same = _same_bytes(Path(earlier), path)
    except OSError:
        same = False
    return same, IDENTICAL if same else CLASH


def _same_bytes(a: Path, b: Path) -> bool:
    """filecmp's deep comparison, read through open_regular: a pipe put in
    either's place says so rather than waiting for a writer."""
    with open_regular(a) as first, open_regular(b) as second:
        if os.fstat(first.fileno()).st_size != os.fstat(second.fileno()).st_size:
            return False
        while True:
            chunk = first.read(1 << 20)
            if chunk != second.read(1 << 20):
                return False
            if not chunk:
                return True
