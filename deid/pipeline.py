"""Batch orchestration: every input through the per-file step (`deid.process`).

Each file is independent, so files go to an executor (deid.executors: this
process, local workers or Dask) with a bounded number in flight (discovery
streams; nothing waits in memory). Each finished file is appended to a
journal; a re-run of the same command skips inputs whose journal entry
matches and whose output exists, and inputs that killed a worker
(quarantined, with their reason) until they change.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom

from deid.claims import CLASH, Claims, verdict
from deid.dicom_io import Discovered, discover, remove_stale_temporaries
from deid.errors import OutputError
from deid.executors import ExecutorSettings, Task, results
from deid.face.collect import relevant
from deid.face.geometry import SliceGeometry
from deid.paths import open_regular
from deid.process import process_file, warm
from deid.results import (
    UNPROCESSED,
    FileResult,
    Status,
    change_key,
    redacted,
    relabel,
)
from deid.settings import Settings

__all__ = [
    "UNPROCESSED", "FileResult", "Journal", "again", "process_file", "redacted", "relabel", "run"
]

JOURNAL_NAME = ".deid-journal.sqlite"
NOT_DICOM_SKIPPED = "not a DICOM file: skipped (met inside a folder; --strict fails on it)"

# Statuses by their old names, for the modules that still use them.
WRITTEN, DRY_RUN, FAILED = Status.WRITTEN, Status.DRY_RUN, Status.FAILED
NOT_DICOM, WITHHELD, SKIPPED = Status.NOT_DICOM, Status.WITHHELD, Status.SKIPPED


# --------------------------------------------------------------------------
# Workers


def _process_item(path: str, may_overwrite: bool, settings: Settings) -> FileResult:
    """One work item, as every executor runs it (a module-level function:
    local workers and Dask workers receive it by reference)."""
    return process_file(Path(path), settings, may_overwrite)


# --------------------------------------------------------------------------
# Journal


class Journal:
    """Record of finished files, for resuming after a crash.

    An SQLite file next to the report: lookups are indexed, so a resume of a
    batch of millions does not load it into memory. Inputs are named by keyed
    references, never by path, because it may sit inside the shared output.
    Commits are batched; what a crash loses is redone on the next run.
    """

    COMMIT_EVERY = 200

    def __init__(self, folder: Path, settings: Settings) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / JOURNAL_NAME
        self.run_id = settings.run_id
        self.ref = settings.input_ref
        for name in (JOURNAL_NAME, JOURNAL_NAME + "-wal", JOURNAL_NAME + "-shm"):
            if (folder / name).is_symlink():  # SQLite would follow it
                raise OutputError(
                    f"{folder / name} is a symbolic link: deid never writes through one"
                )
        self.db = _Database(self.path)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS done (ref TEXT, run_id TEXT, record TEXT, "
            "PRIMARY KEY (ref, run_id))"
        )
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS change_sets (id TEXT PRIMARY KEY, changes TEXT)"
        )
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS quarantine (ref TEXT, run_id TEXT, size INTEGER, "
            "mtime_ns INTEGER, reason TEXT, PRIMARY KEY (ref, run_id))"
        )
        self._pending = 0
        self._set_ids: dict[tuple, str] = {}

    def quarantine(self, path: Path, reason: str) -> None:
        """An input that killed a worker twice: skipped by later runs (with
        the reason) until it changes. Committed at once: deaths are rare."""
        try:
            st = path.stat()
        except OSError:
            return
        self.db.execute(
            "INSERT OR REPLACE INTO quarantine VALUES (?, ?, ?, ?, ?)",
            (self.ref(str(path)), self.run_id, st.st_size, st.st_mtime_ns, reason),
        )
        self.db.commit()

    def quarantined(self, path: Path) -> str | None:
        """The reason to skip an input that killed a worker in an earlier run."""
        row = self.db.execute(
            "SELECT size, mtime_ns, reason FROM quarantine WHERE ref = ? AND run_id = ?",
            (self.ref(str(path)), self.run_id),
        ).fetchone()
        try:
            if row is None or tuple(row[:2]) != (path.stat().st_size, path.stat().st_mtime_ns):
                return None
        except OSError:
            return None
        return (
            f"{row[2]}; skipped: it did so in an earlier run (change the file, or delete "
            f"{self.path.name} to try it again)"
        )

    def _entry(self, path: Path) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT record FROM done WHERE ref = ? AND run_id = ?",
            (self.ref(str(path)), self.run_id),
        ).fetchone()
        return json.loads(row[0]) if row else None

    def finished(self, path: Path, output_root: Path) -> FileResult | None:
        entry = self._entry(path)
        if entry is None:
            return None
        try:
            st = path.stat()
        except OSError:
            return None
        if (st.st_size, st.st_mtime_ns) != (entry["size"], entry["mtime_ns"]):
            return None
        if entry["status"] == WRITTEN:
            # A file cut short by a power loss has the wrong size: redo it.
            target = output_root / entry["output"]
            if not target.is_file() or target.stat().st_size != entry.get("output_size"):
                return None
        if entry["status"] not in (WRITTEN, SKIPPED):
            return None  # failures and withheld files are tried again
        row = self.db.execute(
            "SELECT changes FROM change_sets WHERE id = ?", (entry["changes"],)
        ).fetchone()
        if row is None:
            return None
        entry["changes"] = json.loads(row[0])
        result = FileResult.from_record(entry)
        result.input = str(path)
        result.findings = [relabel(f, str(path)) for f in result.findings]
        return result

    def seen(self, path: Path) -> bool:
        return self._entry(path) is not None

    def set_output_size(self, path: Path, size: int) -> None:
        """An output rewritten after the per-file step (series-level markers)."""
        entry = self._entry(path)
        if entry is not None:
            entry["output_size"] = size
            self.db.execute(
                "UPDATE done SET record = ? WHERE ref = ? AND run_id = ?",
                (json.dumps(entry), entry["input"], self.run_id),
            )
            self._pending += 1

    def append(self, result: FileResult) -> None:
        entry = result.record(self.ref(result.input))
        key = change_key(result.changes)
        set_id = self._set_ids.get(key)
        if set_id is None:
            set_id = hashlib.sha256(repr(key).encode()).hexdigest()[:16]
            self._set_ids[key] = set_id
            self.db.execute(
                "INSERT OR IGNORE INTO change_sets VALUES (?, ?)",
                (set_id, json.dumps(result.changes)),
            )
        entry["changes"] = set_id
        self.db.execute(
            "INSERT OR REPLACE INTO done VALUES (?, ?, ?)",
            (entry["input"], self.run_id, json.dumps(entry)),
        )
        self._pending += 1
        if self._pending >= self.COMMIT_EVERY:
            self.db.commit()
            self._pending = 0

    def close(self) -> None:
        try:
            self.db.commit()
        finally:
            self.db.close()


class _Database:
    """The journal's SQLite connection; a fault (disk full, read-only,
    locked) is one line naming the journal, never a traceback."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = self._guard(sqlite3.connect, path)

    def _guard(self, call: Callable, *args: Any) -> Any:
        try:
            return call(*args)
        except sqlite3.Error as exc:
            raise OutputError(f"cannot write the resume journal {self.path}: {exc}") from None

    def execute(self, sql: str, parameters: tuple = ()) -> sqlite3.Cursor:
        return self._guard(self._db.execute, sql, parameters)

    def commit(self) -> None:
        self._guard(self._db.commit)

    def close(self) -> None:
        self._db.close()


# --------------------------------------------------------------------------
# Batch


def _geometry(path: Path, settings: Settings) -> SliceGeometry | None:
    """A resumed file's geometry (the journal keeps none): headers only."""
    if not settings.face.enabled:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with open_regular(path) as fh:
                ds = pydicom.dcmread(fh, stop_before_pixels=True, force=True)
    except Exception:  # noqa: BLE001 - it was read fine when it was processed
        return None
    if not relevant(ds, settings.face.thresholds):
        return None
    return SliceGeometry.from_dataset(ds, str(path))


def _problem_result(item: Discovered) -> FileResult:
    return FileResult(str(item.path), SKIPPED if item.skip else FAILED, reason=item.problem)


@dataclass(frozen=True)
class _Known:
    """A result known without processing (resumed, unreadable, quarantined):
    passed through the executor, not journaled again."""

    result: FileResult


def run(
    inputs: Iterable[Path],
    settings: Settings,
    on_result: Callable[[FileResult], None] | None = None,
    refuse: Iterable[Path] = (),
) -> Iterator[FileResult]:
    """Process every input; yield each file's result as it finishes. Inputs
    found inside `refuse` (where deid writes) are reported, not read."""
    journal = None if settings.dry_run else Journal(settings.report_dir, settings)
    claims = Claims(settings.pseudonymizer.key)
    try:
        if not settings.dry_run:
            settings.output.mkdir(parents=True, exist_ok=True)
            remove_stale_temporaries(settings.output)
        work = _todo(inputs, settings, journal, tuple(refuse), claims)

        def failed(item: tuple[str, bool], reason: str, died: bool) -> FileResult:
            if died and journal is not None:
                journal.quarantine(Path(item[0]), reason)
            return _failed(item[0], reason)

        task = Task(_process_item, settings, failed, prefetch=True, warm=warm)
        execution = settings.execution
        config = ExecutorSettings(str(execution.executor), execution.jobs, execution.scheduler)
        named = {str(p) for p in inputs if not Path(p).is_dir()}

        def deliver(result: FileResult | _Known) -> FileResult:
            known = isinstance(result, _Known)
            result = result.result if known else result
            if result.status is NOT_DICOM and not settings.strict and result.input not in named:
                # Notes, reports, thumbnails next to the images: counted, not failures.
                result.status, result.reason = SKIPPED, NOT_DICOM_SKIPPED
            if journal is not None and not known and result.status in (WRITTEN, SKIPPED):
                journal.append(result)
            if not result.earlier:  # a copy's own result says nothing of its claimant
                claims.settle(result.input, result.status.produced)
            if on_result is not None:
                on_result(result)
            return result

        for result in results(work, task, config):
            yield deliver(result)
        # Inputs that hold an object another input claimed first, with other
        # content, wait for it: where it could not be written, the next one
        # is processed in its place; the rest are refused, naming it.
        while again := claims.passed_on():
            retry = (_item(Path(p), settings, journal) for p in again)
            for result in results(retry, task, config):
                yield deliver(result)
        for path, claimant, compared in claims.refused():
            # Found to differ from that claimant already, or from another
            # before the claim passed on: then read both again.
            identical, reason = (False, CLASH) if compared else verdict(Path(path), claimant)
            refused = _failed(path, reason, SKIPPED if identical else FAILED)
            refused.earlier = claimant
            yield deliver(_Known(refused))
    finally:
        claims.close()
        if journal is not None:
            journal.close()


def _todo(
    inputs: Iterable[Path],
    settings: Settings,
    journal: Journal | None,
    refuse: tuple[Path, ...],
    claims: Claims,
) -> Iterator[_Known | tuple[str, bool]]:
    """Work items, and the results known without work, as discovery streams."""
    for item in discover(inputs, refuse):
        if item.problem:
            yield _Known(_problem_result(item))
            continue
        earlier = claims.earlier(item.path)
        if earlier is not None:
            identical, reason = verdict(item.path, earlier)
            if not identical:
                claims.wait(item.path, earlier)  # processed if `earlier` fails: see run()
                continue
            known = _failed(str(item.path), reason, SKIPPED)
            known.earlier = earlier
            yield _Known(known)
            continue
        yield _item(item.path, settings, journal)


def _item(path: Path, settings: Settings, journal: Journal | None) -> _Known | tuple[str, bool]:
    """Work for `path`, or its result as an earlier run of the same command
    left it (finished: resumed; it killed a worker: quarantined)."""
    if journal is not None:
        resumed = journal.finished(path, settings.output)
        if resumed is not None:
            resumed.geometry = _geometry(path, settings)
            resumed.resumed = True
            return _Known(resumed)
        reason = journal.quarantined(path)
        if reason is not None:
            return _Known(FileResult(str(path), FAILED, reason=reason))
    return (str(path), bool(journal and journal.seen(path)))


def again(paths: list[str], settings: Settings) -> Iterator[FileResult]:
    """Run inputs through the per-file step once more, on the run's executor,
    replacing their outputs: series-level work after the batch (a series
    found to carry burned-in text). Results come in any order; the journal
    is the caller's (deid.rewrite)."""
    task = Task(
        _process_item, settings, lambda item, reason, _died: _failed(item[0], reason), warm=warm
    )
    execution = settings.execution
    config = ExecutorSettings(str(execution.executor), execution.jobs, execution.scheduler)
    yield from results(((p, True) for p in paths), task, config)


def _failed(path: str, reason: str, status: Status = FAILED) -> FileResult:
    """An input not processed: its worker died, or another input holds its object."""
    try:
        st = os.stat(path)
        return FileResult(path, status, reason=reason, size=st.st_size, mtime_ns=st.st_mtime_ns)
    except OSError:
        return FileResult(path, status, reason=reason)
