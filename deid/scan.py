"""`deid scan`: run every detector over files, read-only, and rate the data set.

Headers only (pixel data is not read), so a pre-commit hook on a few files
is quick. Each file yields findings and a small record of its
quasi-identifiers; the data-set risk is computed from those records.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset

from deid.actions import parse_da
from deid.dicom_io import check_inflation, discover, read, sniff
from deid.errors import InputFileError, UsageError
from deid.executors import ExecutorSettings, Task, results, worker_count
from deid.executors import check as check_executor
from deid.face import report as face_report
from deid.face.collect import SeriesCollector, relevant
from deid.face.geometry import SliceGeometry
from deid.face.thresholds import load as load_face_thresholds
from deid.pipeline import redacted
from deid.pixels.examine import decide as decide_pixels
from deid.pixels.examine import examine
from deid.pixels.settings import PixelSettings
from deid.profiles import ResolvedProfile, load_profile
from deid.pseudonyms import Pseudonymizer
from deid.report import views
from deid.risk import detectors
from deid.risk.baseline import Baseline
from deid.risk.findings import Finding, Severity
from deid.risk.kanon import RiskSummary, patient_records, summarise
from deid.scrub import Plan, Scrubber, patient_key, scrubber_for
from deid.settings import face_check_enabled, resolve_options
from deid.spool import SortedSpool, TopN

UNREADABLE = ("failed", "not-dicom")


@dataclass(frozen=True)
class ScanSettings:
    profile: ResolvedProfile
    quasi_identifiers: tuple[str, ...]
    k: int = 5
    jobs: int = 1
    fail_on: Severity = Severity.HIGH
    baseline: Baseline | None = None
    show_values: bool = False
    ignore_non_dicom: bool = False
    dataset_risk: bool = True
    pixels: PixelSettings = field(default_factory=lambda: PixelSettings(mode="off"))
    face: bool = False
    face_thresholds: tuple[Path, ...] = ()
    face_previews: Path | None = None
    executor: str = "local"
    scheduler: str | None = None


def build_scan_settings(
    *,
    profile: str = "basic",
    options: Iterable[str] = (),
    quasi_identifiers: Iterable[str] = (),
    k: int | None = None,
    jobs: int | None = None,
    fail_on: str = "high",
    baseline: Path | None = None,
    show_values: bool = False,
    ignore_non_dicom: bool = False,
    dataset_risk: bool = True,
    pixels: str = "auto",
    pixel_allowlists: Iterable[Path] = (),
    pixel_regions: Iterable[Path] = (),
    face: str = "auto",
    face_thresholds: Iterable[Path] = (),
    face_previews: Path | None = None,
    inputs: Iterable[Path] = (),
    executor: str = "local",
    scheduler: str | None = None,
) -> ScanSettings:
    loaded = load_profile(profile)
    resolved = loaded.resolve(resolve_options(loaded.meta.options, options))
    try:
        severity = Severity.parse(fail_on)
    except KeyError:
        raise UsageError(f"--fail-on must be low, medium or high, not {fail_on!r}") from None
    k = k if k is not None else loaded.meta.k_threshold
    if k < 2:
        raise UsageError("-k must be at least 2")
    check_executor(executor, scheduler)
    return ScanSettings(
        profile=resolved,
        quasi_identifiers=tuple(quasi_identifiers) or loaded.meta.quasi_identifiers,
        k=k,
        jobs=worker_count(jobs, executor, scheduler),
        fail_on=severity,
        baseline=Baseline.load(baseline) if baseline is not None else None,
        show_values=show_values,
        ignore_non_dicom=ignore_non_dicom,
        dataset_risk=dataset_risk,
        face=face_check_enabled(face, tuple(face_thresholds), face_previews, list(inputs)),
        face_thresholds=tuple(face_thresholds),
        face_previews=face_previews,
        pixels=PixelSettings.build(pixels, "none", tuple(pixel_allowlists), tuple(pixel_regions)),
        executor=executor,
        scheduler=scheduler,
    )


@dataclass
class ScanFileResult:
    input: str
    status: str  # scanned | failed | not-dicom
    reason: str = ""
    findings: list[Finding] = field(default_factory=list)
    patient: str = ""
    quasi: dict[str, str] = field(default_factory=dict)
    geometry: SliceGeometry | None = None  # head CT/MR/PT slices only


# --------------------------------------------------------------------------
# Quasi-identifiers


def _age_years(ds: Dataset) -> str:
    age = str(ds.get("PatientAge", "") or "").strip()
    if len(age) == 4 and age[:3].isdigit():
        return str(int(age[:3])) if age[3] == "Y" else "0"
    birth = parse_da(str(ds.get("PatientBirthDate", "") or ""))
    study = parse_da(str(ds.get("StudyDate", "") or ""))
    if birth and study:
        return str(study.year - birth.year - ((study.month, study.day) < (birth.month, birth.day)))
    return ""


_DERIVED: dict[str, Callable[[Dataset], str]] = {
    "PatientAge": _age_years,
    "BirthYear": lambda ds: str(ds.get("PatientBirthDate", "") or "")[:4],
    "StudyYearMonth": lambda ds: str(ds.get("StudyDate", "") or "")[:6],
    "Device": lambda ds: "|".join(
        str(ds.get(k, "") or "").strip()
        for k in ("Manufacturer", "ManufacturerModelName", "StationName", "DeviceSerialNumber")
    ).strip("|"),
}


def quasi_identifier_values(ds: Dataset, names: Iterable[str]) -> dict[str, str]:
    values = {}
    for name in names:
        if name in _DERIVED:
            value = _DERIVED[name](ds)
        else:
            raw = ds.get(name, "")
            value = "" if raw is None else str(raw)
        values[name] = value.strip()
    values["_study"] = str(ds.get("StudyInstanceUID", "") or "")
    return values


# --------------------------------------------------------------------------
# One file


def scan_file(path: Path, settings: ScanSettings, named: bool = True) -> ScanFileResult:
    """Scan one file. A non-DICOM file met inside a folder is skipped (reports,
    notes); one the user named is an input that could not be read."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _scan_file(path, settings, named)


def _scan_file(path: Path, settings: ScanSettings, named: bool) -> ScanFileResult:
    label = str(path)
    try:
        kind = sniff(path)
        if not kind:
            return ScanFileResult(label, "not-dicom" if named else "skipped", "not a DICOM file")
        if kind == "part10":
            check_inflation(path)
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=kind == "raw")
    except InputFileError as exc:
        return ScanFileResult(label, "failed", str(exc).removeprefix(f"{path}: "))
    except MemoryError:
        raise  # the executor reports it against the worker's memory budget
    except Exception as exc:  # noqa: BLE001 - a scan survives any bad file
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return ScanFileResult(label, "failed", f"unreadable DICOM: {first}")
    scrubber = scrubber_for(settings, settings.profile, _NO_KEY)
    found = list(detectors.elements(ds))
    identifiers = scrubber.collect(_plan_from(scrubber, found))
    ctx = detectors.ScanContext(label, ds, scrubber, identifiers, found)
    findings: list[Finding] = []
    for detector in detectors.DETECTORS:
        findings.extend(detector(ctx))
    high = any(f.severity >= Severity.HIGH for f in findings)
    findings.extend(detectors.markers(ctx, high))
    look, _ = decide_pixels(ds, settings.pixels.mode, header_only=True)
    if look:
        try:
            full = read(path)  # complete-file checks apply before pixels are trusted
            outcome = examine(full, identifiers, settings.pixels, label, modify=False)
            findings.extend(outcome.findings)
        except InputFileError as exc:
            findings.append(
                Finding(
                    "pixels.unchecked",
                    Severity.HIGH,
                    f"pixel data could not be checked for burned-in text: "
                    f"{str(exc).removeprefix(f'{path}: ')}",
                    file=label,
                    location="PixelData",
                    action="review by eye",
                )
            )
    geometry = None
    if settings.face and relevant(ds, load_face_thresholds(*settings.face_thresholds)):
        geometry = SliceGeometry.from_dataset(ds, str(path))
    return ScanFileResult(
        label,
        "scanned",
        findings=findings,
        patient=patient_key(ds),
        quasi=quasi_identifier_values(ds, settings.quasi_identifiers),
        geometry=geometry,
    )


def _plan_from(scrubber: Scrubber, found: list) -> Plan:
    """The scrubber's identifier collection works on a plan: build one from
    the scan's own walk, without dropping anything."""
    steps = []
    for parent, elem, path, seq in found:
        steps.append((parent, int(elem.tag), elem, scrubber.decide(parent, elem, seq), path))
    return Plan(steps)


# Decisions need no key; this pseudonymizer is never used by a scan.
_NO_KEY = Pseudonymizer(b"scan-decides-no-pseudonyms")


def _scan_item(path: str, named: bool, settings: ScanSettings) -> ScanFileResult:
    """One work item, as every executor runs it."""
    return scan_file(Path(path), settings, named)


# --------------------------------------------------------------------------
# Many files


class ScanOutcome:
    """What a scan found, in bounded memory.

    Entries of the files a reader must see (findings, or not scanned) wait
    in a sorted spool on disk, their evidence already redacted unless the
    settings show values and findings the baseline accepts already dropped;
    clean files are only counted. Head series' face results wait in a spool
    of their own. In memory stay counters, the data-set risk findings and
    the few worst files the HTML and console list. Close it
    (or use `with`) to remove the spool.
    """

    def __init__(self, settings: ScanSettings, workdir: Path | None = None) -> None:
        self.settings = settings
        if workdir is None or workdir.is_dir():
            SortedSpool.clear_stale(workdir)  # a killed scan's (system temp by default)
        self._spool = SortedSpool(workdir)
        self.statuses: Counter[str] = Counter()
        self.tally = views.Tally(settings.fail_on)
        self.baselined = 0
        self.risk: RiskSummary | None = None
        self.face = face_report.SeriesResults(workdir)
        self.dataset_findings: list[Finding] = []  # data-set risk; face findings are in `face`
        self.worst = views.WorstFiles()
        self.most_high: TopN[tuple[str, int]] = TopN(10)

    @property
    def exit_code(self) -> int:
        return self.tally.exit_code

    @property
    def files(self) -> int:
        return sum(self.statuses.values())

    def _count(self, findings: list[Finding]) -> list[Finding]:
        """Drop what the baseline accepts, redact evidence, count the rest."""
        settings = self.settings
        if settings.baseline is not None:
            kept = [f for f in findings if not settings.baseline.accepts(f)]
            self.baselined += len(findings) - len(kept)
            findings = kept
        if not settings.show_values:
            findings = [redacted(f) for f in findings]
        self.tally.add(findings)
        return findings

    def add(self, result: ScanFileResult) -> None:
        self.statuses[result.status] += 1
        findings = self._count(result.findings)
        if result.status in UNREADABLE:
            self.tally.unprocessed = True
        elif not findings and result.status == "scanned":
            return
        entry = {
            "input": result.input,
            "status": result.status,
            "reason": result.reason,
            "findings": [f.to_dict() for f in findings],
        }
        self._spool.add(result.input, entry)
        self.worst.add(entry)
        high = sum(1 for f in findings if f.severity >= Severity.HIGH)
        if high:
            self.most_high.add((-high, result.input), (result.input, high))

    def add_dataset(self, findings: list[Finding]) -> None:
        self.dataset_findings += self._count(findings)

    def add_series(self, entry: dict[str, Any], finding: Finding) -> None:
        """One head series' face result; its finding counts like any other."""
        self.face.add(entry, self._count([finding]))

    def entries(self) -> Iterator[dict[str, Any]]:
        """Entries of files with findings or problems, in input order."""
        return (entry for _, entry in self._spool)

    def findings(self) -> Iterator[Finding]:
        """Every finding left after the baseline: files first, then the data set."""
        return views.findings(
            self.entries(), views.dataset_findings(self.dataset_findings, self.face)
        )

    def close(self) -> None:
        self._spool.close()
        self.face.close()

    def __enter__(self) -> ScanOutcome:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _files(
    inputs: list[Path], ignore_non_dicom: bool = False
) -> Iterator[ScanFileResult | tuple[str, bool]]:
    named = set() if ignore_non_dicom else {str(p) for p in inputs if not p.is_dir()}
    for item in discover(inputs):
        if item.problem:
            yield ScanFileResult(str(item.path), "failed", item.problem)
        else:
            yield str(item.path), str(item.path) in named


def _results(inputs: list[Path], settings: ScanSettings) -> Iterator[ScanFileResult]:
    """Every input's result as it is ready, from the executor settings name.
    A handful of files (a pre-commit hook) is scanned in-process: starting
    workers would cost more than the scan."""
    items = _files(inputs, settings.ignore_non_dicom)
    head = list(islice(items, 17))
    config = ExecutorSettings(settings.executor, settings.jobs, settings.scheduler)
    if settings.executor == "local" and len(head) <= 16:
        config = ExecutorSettings("local", 1)
    task = Task(_scan_item, settings, _unfinished)
    return results(chain(head, items), task, config)


def _unfinished(item: tuple[str, bool], reason: str, died: bool) -> ScanFileResult:
    return ScanFileResult(item[0], "failed", reason)


def scan(
    inputs: Iterable[Path],
    settings: ScanSettings,
    on_result: Callable[[ScanFileResult], None] | None = None,
    workdir: Path | None = None,
) -> ScanOutcome:
    """Scan every input; `workdir` holds the outcome's spool (system temp by default)."""
    inputs = list(inputs)
    outcome = ScanOutcome(settings, workdir)
    collector = SeriesCollector(load_face_thresholds(*settings.face_thresholds), workdir)

    def fold() -> Iterator[tuple[str, dict[str, str]]]:
        """Consume results once: record them, pass on the patient row."""
        for result in _results(inputs, settings):
            if on_result:
                on_result(result)
            if settings.face and result.geometry is not None:
                collector.add(result.geometry)
            patient, quasi = result.patient, result.quasi
            outcome.add(result)
            if result.status == "scanned":
                yield patient, quasi

    try:
        records = patient_records(
            fold(), settings.quasi_identifiers, settings.profile.meta.rare_only, settings.k, workdir
        )
        outcome.risk = summarise(
            (record for _, record in records), settings.k, settings.quasi_identifiers, workdir
        )
        if settings.dataset_risk:
            outcome.add_dataset(dataset_findings(outcome.risk))
        if settings.face:
            for result, _ in collector.assess(settings.face_previews is not None):
                entry = face_report.entry(result, outcome.face.count, settings.face_previews)
                outcome.add_series(entry, face_report.finding(entry))
    except BaseException:
        outcome.close()
        raise
    finally:
        collector.close()
    return outcome


def dataset_findings(risk: RiskSummary) -> list[Finding]:
    if risk.records == 0 or risk.k >= risk.threshold:
        return []
    severity = Severity.HIGH if risk.k == 1 else Severity.MEDIUM
    return [
        Finding(
            rule="dataset.k-anonymity",
            severity=severity,
            message=(
                f"k-anonymity is {risk.k} (< {risk.threshold}): "
                f"{risk.below_k_share:.0%} of patients are in classes smaller than "
                f"{risk.threshold} on the quasi-identifiers"
            ),
            location="dataset",
            action="generalise or remove quasi-identifiers (e.g. --profile gdpr-anonymise)",
            extra={"risk": risk.to_dict()},
        )
    ]


__all__ = ["ScanOutcome", "ScanSettings", "build_scan_settings", "scan", "scan_file"]
