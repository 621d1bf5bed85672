"""Batch orchestration: every input through the per-file step (`deid.process`).

Each file is independent, so files go to a process pool in small batches
with a bounded number in flight (discovery streams; nothing waits in
memory). Each finished file is appended to a journal; a re-run of the same
command skips inputs whose journal entry matches and whose output exists.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import warnings
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pydicom

from deid.dicom_io import Discovered, discover, prefetch, remove_stale_temporaries
from deid.face.collect import relevant
from deid.face.geometry import SliceGeometry
from deid.process import process_file
from deid.results import (
    UNPROCESSED,
    FileResult,
    Status,
    change_key,
    redacted,
    relabel,
)
from deid.settings import ExecutorKind, Settings

__all__ = [
    "UNPROCESSED", "FileResult", "Journal", "again", "process_file", "redacted", "relabel", "run"
]

JOURNAL_NAME = ".deid-journal.sqlite"
BATCH = 8

# Statuses by their old names, for the modules that still use them.
WRITTEN, DRY_RUN, FAILED = Status.WRITTEN, Status.DRY_RUN, Status.FAILED
NOT_DICOM, WITHHELD, SKIPPED = Status.NOT_DICOM, Status.WITHHELD, Status.SKIPPED


# --------------------------------------------------------------------------
# Workers

_WORKER_SETTINGS: list[Settings] = []


def _init_worker(settings: Settings) -> None:
    _WORKER_SETTINGS[:] = [settings]


def _process_batch(batch: list[tuple[str, bool]], settings: Settings) -> list[FileResult]:
    return [process_file(Path(p), settings, overwrite) for p, overwrite in batch]


def _run_batch(batch: list[tuple[str, bool]]) -> list[FileResult]:
    """Local pool: the settings were sent once, to the worker's initializer."""
    return _process_batch(batch, _WORKER_SETTINGS[0])


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
        self.db = sqlite3.connect(self.path)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS done (ref TEXT, run_id TEXT, record TEXT, "
            "PRIMARY KEY (ref, run_id))"
        )
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS change_sets (id TEXT PRIMARY KEY, changes TEXT)"
        )
        self._pending = 0
        self._set_ids: dict[tuple, str] = {}

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
        self.db.commit()
        self.db.close()


# --------------------------------------------------------------------------
# Batch


def _geometry(path: Path, settings: Settings) -> SliceGeometry | None:
    """A resumed file's geometry (the journal keeps none): headers only."""
    if not settings.face.enabled:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    except Exception:  # noqa: BLE001 - it was read fine when it was processed
        return None
    if not relevant(ds, settings.face.thresholds):
        return None
    return SliceGeometry.from_dataset(ds, str(path))


def _problem_result(item: Discovered) -> FileResult:
    return FileResult(str(item.path), FAILED, reason=item.problem)


def run(
    inputs: Iterable[Path],
    settings: Settings,
    on_result: Callable[[FileResult], None] | None = None,
) -> Iterator[FileResult]:
    """Process every input; yield each file's result as it finishes."""
    journal = None if settings.dry_run else Journal(settings.report_dir, settings)
    if not settings.dry_run:
        settings.output.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(settings.output)

    def todo() -> Iterator[FileResult | tuple[str, bool]]:
        for item in discover(inputs):
            if item.problem:
                yield _problem_result(item)
                continue
            resumed = journal.finished(item.path, settings.output) if journal else None
            if resumed is not None:
                resumed.geometry = _geometry(item.path, settings)
                yield resumed
                continue
            yield (str(item.path), bool(journal and journal.seen(item.path)))

    def finish(result: FileResult, fresh: bool) -> FileResult:
        if journal is not None and fresh and result.status in (WRITTEN, SKIPPED):
            journal.append(result)
        if on_result is not None:
            on_result(result)
        return result

    try:
        if settings.jobs <= 1 and settings.execution.executor is ExecutorKind.LOCAL:
            for work in todo():
                if isinstance(work, FileResult):
                    yield finish(work, fresh=False)
                else:
                    yield finish(process_file(Path(work[0]), settings, work[1]), fresh=True)
            return
        with _executor(settings) as (submit, wait_any):
            pending: set = set()
            batch: list[tuple[str, bool]] = []
            limit = settings.jobs * 4

            def drain(block_until: int) -> Iterator[FileResult]:
                nonlocal pending
                while len(pending) > block_until:
                    done, pending = wait_any(pending)
                    pending = set(pending)
                    for future in done:
                        for result in future.result():
                            yield finish(result, fresh=True)

            def send(batch: list[tuple[str, bool]]) -> None:
                pending.add(submit(batch))
                # Dask workers read on other machines: advising here would not help.
                if settings.execution.executor is ExecutorKind.LOCAL:
                    prefetch(path for path, _ in batch)

            for work in todo():
                if isinstance(work, FileResult):
                    yield finish(work, fresh=False)
                    continue
                batch.append(work)
                if len(batch) >= BATCH:
                    send(batch)
                    batch = []
                    yield from drain(limit)
            if batch:
                send(batch)
            yield from drain(0)
    finally:
        if journal is not None:
            journal.close()


def again(paths: list[str], settings: Settings, batch: int = 2) -> Iterator[FileResult]:
    """Run inputs through the per-file step once more, on the run's executor,
    replacing their outputs: series-level work after the batch (a series
    found to carry burned-in text). Results come in any order; the journal
    is the caller's (deid.rewrite)."""
    if settings.jobs <= 1 and settings.execution.executor is ExecutorKind.LOCAL:
        for path in paths:
            yield process_file(Path(path), settings, may_overwrite=True)
        return
    with _executor(settings) as (submit, wait_any):
        pending = {
            submit([(p, True) for p in paths[i : i + batch]])
            for i in range(0, len(paths), batch)
        }
        while pending:
            done, pending = wait_any(pending)
            pending = set(pending)
            for future in done:
                yield from future.result()


@contextmanager
def _executor(settings: Settings) -> Iterator[tuple[Callable, Callable]]:
    """(submit a batch, wait for any) on local processes or a Dask cluster.

    Both run the same `process_file`, and pseudonyms need no shared state, so
    every executor writes the same bytes. Dask workers must see the input and
    output paths (a shared file system) and receive the settings, key
    included, over the cluster's connections: use it on a cluster you trust.
    """
    execution = settings.execution
    if execution.executor is ExecutorKind.DASK:
        from distributed import Client, LocalCluster
        from distributed import wait as dask_wait

        cluster = None
        if execution.scheduler:
            client = Client(execution.scheduler)
        else:
            cluster = LocalCluster(
                n_workers=settings.jobs,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            )
            client = Client(cluster)
        try:
            remote = client.scatter(settings, broadcast=True)
            yield (
                lambda batch: client.submit(_process_batch, batch, remote, pure=False),
                lambda pending: dask_wait(pending, return_when="FIRST_COMPLETED"),
            )
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
        return
    with ProcessPoolExecutor(
        max_workers=settings.jobs, initializer=_init_worker, initargs=(settings,)
    ) as pool:
        yield (
            lambda batch: pool.submit(_run_batch, batch),
            lambda pending: wait(pending, return_when=FIRST_COMPLETED),
        )
