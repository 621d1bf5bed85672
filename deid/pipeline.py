"""Batch orchestration: one file at a time through read -> scrub -> write -> verify.

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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pydicom
from pydicom.uid import MediaStorageDirectoryStorage

from deid.dicom_io import (
    Discovered,
    atomic_write,
    discover,
    output_path,
    prefetch,
    read,
    remove_stale_temporaries,
    transfer_syntax,
)
from deid.errors import InputFileError
from deid.face.collect import relevant
from deid.face.geometry import SliceGeometry
from deid.face.thresholds import load as load_face_thresholds
from deid.part10 import encode
from deid.pixels.examine import examine
from deid.pixels.redact import store as store_pixels
from deid.risk.findings import Finding, Severity
from deid.risk.verify import verify
from deid.scrub import (
    FileContext,
    clean_file_meta,
    mark_deidentified,
    patient_key,
    reference_date,
    scrubber_for,
)
from deid.settings import Settings

JOURNAL_NAME = ".deid-journal.sqlite"
BATCH = 8

# Statuses. Only WRITTEN and DRY_RUN count as processed.
WRITTEN = "written"
DRY_RUN = "dry-run"
FAILED = "failed"
NOT_DICOM = "not-dicom"
WITHHELD = "withheld"
SKIPPED = "skipped"
UNPROCESSED = (FAILED, NOT_DICOM)


@dataclass
class FileResult:
    input: str
    status: str
    output: str = ""
    reason: str = ""
    size: int = 0
    mtime_ns: int = 0
    output_size: int = 0
    findings: list[Finding] = field(default_factory=list)
    changes: list[dict[str, str]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    summary: dict[str, str] = field(default_factory=dict)
    # Linkage: never written to the journal or the report, only to --mapping-dir.
    uid_map: dict[str, str] = field(default_factory=dict)
    patient: tuple[str, str] | None = None
    # Face check: slice geometry of head CT/MR/PT files (input path inside:
    # kept in memory for the series step, never written).
    geometry: SliceGeometry | None = None

    def record(self, label: str) -> dict[str, Any]:
        """What may be stored next to the outputs: no linkage, no PHI values,
        and the input named by `label` (a keyed reference unless paths may show)."""
        return {
            "input": label,
            "status": self.status,
            "output": self.output,
            "reason": self.reason,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "output_size": self.output_size,
            "findings": [relabel(redacted(f), label).to_dict() for f in self.findings],
            "changes": self.changes,
            "counts": self.counts,
            "summary": self.summary,
        }

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> FileResult:
        data = dict(data)
        data["findings"] = [Finding.from_dict(f) for f in data.get("findings", [])]
        return cls(**data)


CHANGE_FIELDS = ("path", "action", "code", "why")


def change_key(changes: list[dict[str, str]]) -> tuple[tuple[str, ...], ...]:
    """A hashable identity for a list of changes, to share identical lists."""
    return tuple(tuple(c[f] for f in CHANGE_FIELDS) for c in changes)


def relabel(finding: Finding, label: str) -> Finding:
    return replace(finding, file=label) if finding.file else finding


def redacted(finding: Finding) -> Finding:
    if not finding.evidence:
        return finding
    return Finding(
        finding.rule,
        finding.severity,
        finding.message,
        finding.file,
        finding.location,
        finding.action,
        f"<redacted: {len(finding.evidence)} characters>",
        finding.extra,
    )


# --------------------------------------------------------------------------
# One file


def process_file(path: Path, settings: Settings, may_overwrite: bool = False) -> FileResult:
    label = str(path)
    try:
        st = path.stat()
        result = FileResult(label, FAILED, size=st.st_size, mtime_ns=st.st_mtime_ns)
    except OSError as exc:
        return FileResult(label, FAILED, reason=f"cannot read: {exc.strerror}")
    try:
        with warnings.catch_warnings():
            # pydicom warns on odd values as they are decoded; the report
            # says what deid did about them, the terminal stays readable.
            warnings.simplefilter("ignore")
            return _process(path, settings, result, may_overwrite)
    except InputFileError as exc:
        result.status = NOT_DICOM if "not a DICOM file" in str(exc) else FAILED
        result.reason = str(exc).removeprefix(f"{path}: ")
        return result
    except OSError as exc:
        result.reason = str(exc.strerror or exc)
        return result
    except Exception as exc:  # noqa: BLE001 - a batch survives any bad file
        first = str(exc).splitlines()[0] if str(exc) else ""
        result.reason = f"cannot process: {type(exc).__name__}: {first}"
        return result


def _process(path: Path, settings: Settings, result: FileResult, may_overwrite: bool) -> FileResult:
    label = result.input
    ds = read(path)
    sop_class = str(ds.get("SOPClassUID", "") or "")
    meta_class = (
        str(ds.file_meta.get("MediaStorageSOPClassUID", ""))
        if getattr(ds, "file_meta", None) is not None
        else ""
    )
    if MediaStorageDirectoryStorage in (sop_class, meta_class):
        result.status = SKIPPED
        result.reason = (
            "DICOMDIR not copied: it indexes input paths and names "
            "patients; the files it lists are processed where found"
        )
        result.findings.append(
            Finding(
                "input.dicomdir", Severity.INFO, "DICOMDIR skipped", file=label, action="not copied"
            )
        )
        return result
    for keyword in ("SOPClassUID", "SOPInstanceUID"):
        if not str(ds.get(keyword, "") or "").strip():
            raise InputFileError(f"no {keyword}: cannot make a valid output file")
    ts = transfer_syntax(ds)
    scrubber = scrubber_for(settings, settings.profile, settings.pseudonymizer)
    pseudo = settings.pseudonymizer
    key = patient_key(ds)
    plan = scrubber.plan(ds)
    ctx = FileContext(
        patient_key=key,
        patient_pseudonym=pseudo.patient_token(key),
        date_offset=pseudo.date_offset_days(key),
        reference_date=reference_date(ds),
        identifiers=scrubber.collect(plan),
    )
    ctx.cleaning = ctx.identifiers.cleaning_patterns()
    original_pid = str(ds.get("PatientID", "") or "").strip()
    pixel = examine(ds, ctx.identifiers, settings.pixels, label)
    result.findings.extend(pixel.findings)
    visual_clean = False
    if settings.face:
        thresholds = load_face_thresholds(*settings.face_thresholds)
        if relevant(ds, thresholds):  # CT/MR/PT: the series step judges its images
            result.geometry = SliceGeometry.from_dataset(ds, str(path))
            # Until the series is judged: YES where the header names the head (the
            # safe answer, which most such series keep), NO elsewhere (the answer
            # most other series keep); a series judged otherwise is written again.
            visual_clean = not thresholds.names_head(result.geometry.words)
            ds.RecognizableVisualFeatures = "NO" if visual_clean else "YES"
    scrubber.scrub(ds, plan, ctx)
    cleaned = pixel.examined and pixel.complete and settings.pixels.redact != "none"
    if pixel.pixels is not None:
        ts, note = store_pixels(ds, pixel.pixels, ts)
        if note:
            result.findings.append(
                Finding(
                    "pixels.transfer-syntax",
                    Severity.INFO,
                    note,
                    file=label,
                    location="TransferSyntaxUID",
                    action="re-encoded",
                )
            )
    if cleaned:
        ds.BurnedInAnnotation = "NO"  # examined, every non-marker region redacted, re-checked
    mark_deidentified(
        ds, settings.profile, ctx, pixels_cleaned=cleaned, visual_features_clean=visual_clean
    )
    ds.file_meta = clean_file_meta(ds, ts, ctx)
    data = encode(ds)

    study = str(ds.get("StudyInstanceUID", "") or "") or "no-study"
    series = str(ds.get("SeriesInstanceUID", "") or "") or "no-series"
    target = output_path(
        settings.output, ctx.patient_pseudonym, study, series, str(ds.SOPInstanceUID)
    )
    result.output = str(target.relative_to(settings.output))
    result.changes = ctx.changes
    result.counts = dict(ctx.counts)
    result.uid_map = ctx.uid_map
    result.patient = (original_pid, ctx.patient_pseudonym) if original_pid else None
    result.summary = {
        "patient": ctx.patient_pseudonym,
        "study": study,
        "series": series,
        "modality": str(ds.get("Modality", "") or ""),
        "transfer_syntax": str(ts),
        "pixels": pixel.decision,
    }
    if pixel.residual:
        result.status = WITHHELD
        result.reason = "output withheld: burned-in identifying text still readable after redaction"
        return result

    leaks = verify(data, ctx.identifiers, label, ds.get("PixelData"))
    if leaks:
        result.findings.extend(leaks)
        result.status = WITHHELD
        result.reason = (
            f"output withheld: {len(leaks)} identifying value(s) still present after scrubbing"
        )
        return result
    if settings.dry_run:
        result.status = DRY_RUN
        return result
    try:
        # A resumed file replaces its own earlier output; any other input must
        # not replace one, even written by another worker at the same moment.
        atomic_write(target, data, exclusive=not may_overwrite)
    except FileExistsError:
        if target.read_bytes() != data:
            raise InputFileError(
                f"another input already produced {result.output} with different "
                "content (duplicate SOP Instance UID)"
            ) from None
    result.output_size = len(data)
    result.status = WRITTEN
    return result


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
    if not settings.face:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    except Exception:  # noqa: BLE001 - it was read fine when it was processed
        return None
    thresholds = load_face_thresholds(*settings.face_thresholds)
    return SliceGeometry.from_dataset(ds, str(path)) if relevant(ds, thresholds) else None


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
        if settings.jobs <= 1 and settings.executor == "local":
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
                if settings.executor == "local":  # Dask workers read on other machines
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


@contextmanager
def _executor(settings: Settings) -> Iterator[tuple[Callable, Callable]]:
    """(submit a batch, wait for any) on local processes or a Dask cluster.

    Both run the same `process_file`, and pseudonyms need no shared state, so
    every executor writes the same bytes. Dask workers must see the input and
    output paths (a shared file system) and receive the settings, key
    included, over the cluster's connections: use it on a cluster you trust.
    """
    if settings.executor == "dask":
        from distributed import Client, LocalCluster
        from distributed import wait as dask_wait

        cluster = None
        if settings.scheduler:
            client = Client(settings.scheduler)
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
