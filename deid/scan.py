"""`deid scan`: run every detector over files, read-only, and rate the data set.

Headers only (pixel data is not read), so a pre-commit hook on a few files
is quick. Each file yields findings and a small record of its
quasi-identifiers; the data-set risk is computed from those records.
"""

from __future__ import annotations

import warnings
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from deid.actions import parse_da
from deid.decide import decider_for
from deid.dicom_io import check_inflation, discover, read, sniff
from deid.errors import InputFileError, UsageError
from deid.face import report as face_report
from deid.face.collect import SeriesCollector, relevant
from deid.face.geometry import SliceGeometry
from deid.pipeline import redacted
from deid.pixels.classify import load_allowlist
from deid.pixels.examine import examine, not_examined
from deid.pixels.policy import Verdict
from deid.pixels.policy import decide as decide_pixels
from deid.pixels.series import (
    SAMPLE_REASON,
    TEXT_REASON,
    Member,
    RawLayout,
    SampledSeries,
    SeriesSampler,
    carries_text,
    overlay_findings,
    overlay_to_redact,
    series_finding,
    why_text,
)
from deid.pixels.settings import PixelMode, PixelSettings
from deid.profiles import ResolvedProfile
from deid.report import views
from deid.risk import dataset as dataset_risk
from deid.risk import detectors
from deid.risk.baseline import Baseline
from deid.risk.dataset import DatasetRisk, RiskSettings
from deid.risk.findings import Finding, Severity
from deid.risk.identifiers import IdentifierSet
from deid.risk.kanon import Value
from deid.risk.quasi import ZIP_CODE, QuasiIdentifier
from deid.risk.quasi import plan as quasi_plan
from deid.scrub import collect, patient_key
from deid.settings import FaceSettings, available_cores, resolve_profile
from deid.spool import SortedSpool, TopN

UNREADABLE = ("failed", "not-dicom")


@dataclass(frozen=True)
class ScanSettings:
    profile: ResolvedProfile
    risk: RiskSettings
    jobs: int = 1
    fail_on: Severity = Severity.HIGH
    baseline: Baseline | None = None
    show_values: bool = False
    ignore_non_dicom: bool = False
    dataset_risk: bool = True
    pixels: PixelSettings = field(default_factory=lambda: PixelSettings(mode="off"))
    face: FaceSettings = field(default_factory=lambda: FaceSettings(enabled=False))

    @property
    def quasi_identifiers(self) -> tuple[str, ...]:
        return self.risk.names

    @property
    def k(self) -> int:
        return self.risk.threshold


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
    trust_burned_in_annotation: bool = False,
    pixel_allowlists: Iterable[Path] = (),
    pixel_regions: Iterable[Path] = (),
    face: str = "auto",
    face_thresholds: Iterable[Path] = (),
    face_previews: Path | None = None,
    inputs: Iterable[Path] = (),
    sensitive: str | None = None,
    population: int | None = None,
    sampling_fraction: float | None = None,
    max_risk: float | None = None,
    fail_on_dataset: bool = False,
) -> ScanSettings:
    resolved = resolve_profile(profile, options)
    try:
        severity = Severity.parse(fail_on)
    except KeyError:
        raise UsageError(f"--fail-on must be low, medium or high, not {fail_on!r}") from None
    k = k if k is not None else resolved.meta.k_threshold
    if k < 2:
        raise UsageError("-k must be at least 2")
    given = tuple(quasi_identifiers)
    names = given or resolved.meta.quasi_identifiers
    flag = "--qi" if given else f"profile {resolved.meta.name} [risk] quasi_identifiers:"
    _check_risk_options(dataset_risk, population, sampling_fraction, max_risk, fail_on_dataset)
    if sensitive is not None and sensitive in given:
        raise UsageError(f"--sensitive {sensitive} is also given to --qi: name it once")
    # A sensitive attribute among the profile's quasi-identifiers (BodyPartExamined)
    # is what the attacker learns, not what he links on: it leaves the list.
    names = tuple(name for name in names if name != sensitive)
    risk = RiskSettings(
        quasi=quasi_plan(tuple(dict.fromkeys(names)), resolved, flag),
        sensitive=quasi_plan((sensitive,), resolved, "--sensitive")[0] if sensitive else None,
        rare_only=resolved.meta.rare_only,
        threshold=k,
        population=population,
        sampling_fraction=sampling_fraction,
        max_risk=max_risk,
        fail_on_dataset=fail_on_dataset,
    )
    return ScanSettings(
        profile=resolved,
        risk=risk,
        jobs=jobs or available_cores(),
        fail_on=severity,
        baseline=Baseline.load(baseline) if baseline is not None else None,
        show_values=show_values,
        ignore_non_dicom=ignore_non_dicom,
        dataset_risk=dataset_risk,
        face=FaceSettings.build(face, face_thresholds, face_previews, list(inputs)),
        pixels=PixelSettings.build(
            pixels,
            "none",
            tuple(pixel_allowlists),
            tuple(pixel_regions),
            trust_declared=trust_burned_in_annotation,
        ),
    )


def _check_risk_options(
    dataset_risk: bool,
    population: int | None,
    sampling_fraction: float | None,
    max_risk: float | None,
    fail_on_dataset: bool,
) -> None:
    if population is not None and sampling_fraction is not None:
        raise UsageError("give --population or --sampling-fraction, not both")
    if population is not None and population < 1:
        raise UsageError("--population must be a number of people, at least 1")
    if sampling_fraction is not None and not 0 < sampling_fraction <= 1:
        raise UsageError("--sampling-fraction must be above 0 and at most 1")
    if max_risk is not None and not 0 < max_risk <= 1:
        raise UsageError("--max-risk must be above 0 and at most 1 (e.g. 0.2 for k >= 5)")
    if not dataset_risk and (max_risk is not None or fail_on_dataset):
        raise UsageError("--no-dataset-risk cannot be gated by --max-risk or --fail-on-dataset")


@dataclass
class ScanFileResult:
    input: str
    status: str  # scanned | failed | not-dicom
    reason: str = ""
    findings: list[Finding] = field(default_factory=list)
    patient: str = ""
    quasi: dict[str, Value | str] = field(default_factory=dict)
    geometry: SliceGeometry | None = None  # head CT/MR/PT slices only
    pixels: str = ""  # the burned-in text verdict (examined, sampled by series, ...)
    series: Member | None = None  # a slice of a series examined by samples


# --------------------------------------------------------------------------
# Quasi-identifiers


def _age_years(ds: Dataset) -> Value:
    age = str(ds.get("PatientAge", "") or "").strip()
    if len(age) == 4 and age[:3].isdigit():
        return (str(int(age[:3])) if age[3] == "Y" else "0",)
    birth = parse_da(str(ds.get("PatientBirthDate", "") or ""))
    study = parse_da(str(ds.get("StudyDate", "") or ""))
    if birth and study:
        years = study.year - birth.year - ((study.month, study.day) < (birth.month, birth.day))
        return (str(years),)
    return ()


def _text(ds: Dataset, keyword: str) -> str:
    return str(ds.get(keyword, "") or "").strip()


def _zip(ds: Dataset) -> Value:
    found = ZIP_CODE.search(_text(ds, "PatientAddress"))  # as the hipaa zip3 action finds it
    return (found.group(1),) if found else ()


# Each derived name gives one tuple per file: Device keeps its four parts in
# place (manufacturer, model, station, serial), so {ACME, model Z} on one
# scanner never reads like {ACME} and {Z} on two.
_DERIVED: dict[str, Callable[[Dataset], Value]] = {
    "PatientAge": _age_years,
    "BirthYear": lambda ds: (_text(ds, "PatientBirthDate")[:4],),
    "StudyYearMonth": lambda ds: (_text(ds, "StudyDate")[:6],),
    "Device": lambda ds: tuple(
        _text(ds, k)
        for k in ("Manufacturer", "ManufacturerModelName", "StationName", "DeviceSerialNumber")
    ),
    "ZIP": _zip,
}


def quasi_identifier_values(
    ds: Dataset, quasi: Iterable[QuasiIdentifier]
) -> dict[str, Value | str]:
    """Each quasi-identifier's value in this file, as a tuple of parts (a
    multi-valued attribute keeps its values apart); numbers in canonical form."""
    values: dict[str, Value | str] = {}
    for qi in quasi:
        if qi.name in _DERIVED:
            value = _DERIVED[qi.name](ds)
        else:
            raw = ds.get(qi.name, None)
            parts = raw if isinstance(raw, MultiValue | list | tuple) else (raw,)
            value = tuple(qi.normalise("" if p is None else str(p)) for p in parts)
        values[qi.name] = value if any(value) else ()
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
        with path.open("rb") as fh:
            ds = pydicom.dcmread(fh, stop_before_pixels=True, force=kind == "raw")
            where, head = fh.tell(), fh.read(12)  # where the pixel data starts
    except InputFileError as exc:
        return ScanFileResult(label, "failed", str(exc).removeprefix(f"{path}: "))
    except Exception as exc:  # noqa: BLE001 - a scan survives any bad file
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return ScanFileResult(label, "failed", f"unreadable DICOM: {first}")
    decider, found, identifiers = _judged(ds, settings)
    ctx = detectors.ScanContext(label, ds, decider, identifiers, found)
    findings: list[Finding] = []
    for detector in detectors.DETECTORS:
        findings.extend(detector(ctx))
    high = any(f.severity >= Severity.HIGH for f in findings)
    findings.extend(detectors.markers(ctx, high))
    decision = decide_pixels(ds, settings.pixels, header_only=True)
    series = None
    if decision.look:
        findings.extend(examine_file(path, identifiers, settings.pixels, label))
    if decision.slice_of_series and decision.verdict in (Verdict.EXAMINE, Verdict.SERIES):
        series = _series_member(ds, label, RawLayout.at(head, where, ds, _syntax(ds)))
    elif decision.unexamined is not None:
        declared = str(ds.get("BurnedInAnnotation", "") or "").strip().upper()
        findings.append(not_examined(label, decision, declared))
    geometry = None
    if settings.face.enabled and relevant(ds, settings.face.thresholds):
        geometry = SliceGeometry.from_dataset(ds, str(path))
    return ScanFileResult(
        label,
        "scanned",
        findings=findings,
        patient=patient_key(ds),
        quasi=(
            quasi_identifier_values(ds, settings.risk.attributes) if settings.dataset_risk else {}
        ),
        geometry=geometry,
        pixels=str(decision.verdict),
        series=series,
    )


def _judged(ds: Dataset, settings: ScanSettings) -> tuple[Any, list, IdentifierSet]:
    """The profile's decider on this file, its elements, and the identifying
    values the profile would change, as a run collects them."""
    decider = decider_for(settings, settings.profile).bind(ds)
    found = list(detectors.elements(ds))
    steps = [(ds_, int(e.tag), e, decider.decide(ds_, e, seq), path) for ds_, e, path, seq in found]
    return decider, found, collect(steps)


def _syntax(ds: Dataset) -> pydicom.uid.UID:
    meta = getattr(ds, "file_meta", None)
    found = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    return pydicom.uid.UID(found or pydicom.uid.ImplicitVRLittleEndian)


def _series_member(ds: Dataset, label: str, layout: RawLayout | None) -> Member:
    try:
        order = int(ds.get("InstanceNumber", 0) or 0)
    except (TypeError, ValueError):
        order = 0
    series = str(ds.get("SeriesInstanceUID", "") or "") or f"no-series:{label}"
    return Member(series, order, label, label, layout, None)


def examine_file(
    path: Path, identifiers: IdentifierSet, pixels: PixelSettings, label: str
) -> list[Finding]:
    """Burned-in text in one file, reported only; a file whose pixels cannot
    be decoded is a finding too (it was not checked)."""
    try:
        full = read(path)  # complete-file checks apply before pixels are trusted
        return examine(full, identifiers, pixels, label, modify=False).findings
    except InputFileError as exc:
        return [
            Finding(
                "pixels.unchecked",
                Severity.HIGH,
                f"pixel data could not be checked for burned-in text: "
                f"{str(exc).removeprefix(f'{path}: ')}",
                file=label,
                location="PixelData",
                action="review by eye",
            )
        ]


_WORKER: list[ScanSettings] = []


def _init(settings: ScanSettings) -> None:
    _WORKER[:] = [settings]


def _scan_one(item: tuple[str, bool]) -> ScanFileResult:
    return scan_file(Path(item[0]), _WORKER[0], item[1])


def examine_again(label: str, settings: ScanSettings, why: str) -> list[Finding]:
    """A slice of a sampled series, examined for `why` (series step)."""
    path = Path(label)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    except Exception:  # noqa: BLE001 - examine_file says why it cannot be read
        return examine_file(path, IdentifierSet(), settings.pixels.examining_all(why), label)
    identifiers = _judged(ds, settings)[2]
    return examine_file(path, identifiers, settings.pixels.examining_all(why), label)


def _examine_one(item: tuple[str, str]) -> list[Finding]:
    return examine_again(item[0], _WORKER[0], item[1])


def _examine_many(labels: list[str], settings: ScanSettings, why: str) -> dict[str, list[Finding]]:
    """Each file's burned-in text findings, on every core when there are several."""
    if settings.jobs <= 1 or len(labels) <= 2:
        return {label: examine_again(label, settings, why) for label in labels}
    with ProcessPoolExecutor(settings.jobs, initializer=_init, initargs=(settings,)) as pool:
        found = pool.map(_examine_one, [(label, why) for label in labels], chunksize=2)
        return dict(zip(labels, found, strict=True))


class HeldSeries:
    """Slices of series examined by samples (deid.pixels.series), held until
    their series is judged: samples examined, every slice when a sample or
    the static-overlay check finds text; then reported as they finally are."""

    def __init__(self, settings: ScanSettings, workdir: Path | None = None) -> None:
        self.settings = settings
        self.sampler = SeriesSampler(workdir)

    def holds(self, result: ScanFileResult) -> bool:
        return result.series is not None and self.settings.pixels.mode is PixelMode.AUTO

    def add(self, result: ScanFileResult) -> None:
        member, result.series = result.series, None
        if result.pixels == Verdict.EXAMINE:
            member.examined = "sample"  # the first slice: its worker examined it
        member.item = {
            "input": result.input,
            "status": result.status,
            "reason": result.reason,
            "findings": [f.to_dict() for f in result.findings],
        }
        self.sampler.add(member)

    def judged(self) -> Iterator[ScanFileResult]:
        for chunk in self.sampler.chunks():
            yield from self._judge(chunk)

    def _judge(self, chunk: list[SampledSeries]) -> Iterator[ScanFileResult]:
        samples = [m.source for found in chunk for m in found.to_sample()]
        done = _examine_many(samples, self.settings, SAMPLE_REASON)
        why = {found.key: why_text(found, _hits(found, done)) for found in chunk}
        rest = [
            m.source for found in chunk if why[found.key] for m in found.members
            if m.source not in done
        ]
        done.update(_examine_many(rest, self.settings, TEXT_REASON))
        allow = load_allowlist(*self.settings.pixels.allowlists)
        for found in chunk:
            finding = series_finding(found, why[found.key], found.samples()[0].source)
            overlay = overlay_to_redact(found, allow, False) if why[found.key] else []
            for m in found.members:
                item = m.item
                result = ScanFileResult(item["input"], item["status"], item["reason"])
                result.findings = [Finding.from_dict(f) for f in item["findings"]]
                result.findings += done.get(m.source, [])
                result.findings += overlay_findings(overlay, m.source, redacted=False)
                examined = m.source in done or m.examined
                result.pixels = str(Verdict.EXAMINE if examined else Verdict.SERIES)
                if finding is not None and finding.file == m.source:
                    result.findings.append(finding)
                yield result

    def close(self) -> None:
        self.sampler.close()


def _hits(found: SampledSeries, done: dict[str, list[Finding]]) -> list[int]:
    """Slice numbers of the samples that show text (examined now or by
    their worker: the first slice)."""
    hits = []
    for member in found.samples():
        found_here = done.get(member.source, [])
        before = [Finding.from_dict(f) for f in member.item["findings"]]
        if carries_text(found_here + before):
            hits.append(member.order)
    return hits


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
        if workdir is not None and workdir.is_dir():
            SortedSpool.clear_stale(workdir)
        self._spool = SortedSpool(workdir)
        self.statuses: Counter[str] = Counter()
        self.pixels: Counter[str] = Counter()  # burned-in text: examined, sampled, not
        self.tally = views.Tally(settings.fail_on)
        self.baselined = 0
        self.risk: DatasetRisk | None = None  # None with --no-dataset-risk
        self.dataset_gate: str | None = None  # why the data-set risk fails the scan
        self.face = face_report.SeriesResults(workdir)
        self.dataset_findings: list[Finding] = []  # data-set risk; face findings are in `face`
        self.worst = views.WorstFiles()
        self.most_high: TopN[tuple[str, int]] = TopN(10)

    @property
    def exit_code(self) -> int:
        """The findings' exit code; the data-set risk has its own gate
        (--max-risk, --fail-on-dataset) and fails the scan only through it."""
        code = self.tally.exit_code
        return 1 if code == 0 and self.dataset_gate else code

    @property
    def files(self) -> int:
        return sum(self.statuses.values())

    def _count(self, findings: list[Finding], alarm: bool = True) -> list[Finding]:
        """Drop what the baseline accepts, redact evidence, count the rest
        (towards --fail-on only when `alarm`)."""
        settings = self.settings
        if settings.baseline is not None:
            kept = [f for f in findings if not settings.baseline.accepts(f)]
            self.baselined += len(findings) - len(kept)
            findings = kept
        if not settings.show_values:
            findings = [redacted(f) for f in findings]
        self.tally.add(findings, alarm=alarm)
        return findings

    def add(self, result: ScanFileResult) -> None:
        self.statuses[result.status] += 1
        if result.pixels and result.pixels != Verdict.NO_IMAGE:
            self.pixels[result.pixels] += 1
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

    def add_dataset(self, risk: DatasetRisk) -> None:
        """The data-set risk and its findings: counted and listed, but they
        fail the scan only through the data-set gate. A baseline that accepts
        a finding also keeps it from the gate."""
        self.risk = risk
        found = self._count(dataset_risk.findings(risk), alarm=False)
        self.dataset_findings += found
        self.dataset_gate = dataset_risk.gate(risk, self.settings.risk, found)

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
    """Every input's result as it is ready; work is submitted in bounded batches.
    A handful of files (a pre-commit hook) is scanned in-process: starting
    workers would cost more than the scan."""
    items = _files(inputs, settings.ignore_non_dicom)
    head = list(islice(items, 17))
    if settings.jobs <= 1 or len(head) <= 16:
        for item in chain(head, items):
            if isinstance(item, ScanFileResult):
                yield item
            else:
                yield scan_file(Path(item[0]), settings, item[1])
        return
    with ProcessPoolExecutor(settings.jobs, initializer=_init, initargs=(settings,)) as pool:
        pending: deque = deque()
        for item in chain(head, items):
            if isinstance(item, ScanFileResult):
                yield item
                continue
            pending.append(pool.submit(_scan_one, item))
            while len(pending) > settings.jobs * 64:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def scan(
    inputs: Iterable[Path],
    settings: ScanSettings,
    on_result: Callable[[ScanFileResult], None] | None = None,
    workdir: Path | None = None,
) -> ScanOutcome:
    """Scan every input; `workdir` holds the outcome's spool (system temp by default)."""
    inputs = list(inputs)
    outcome = ScanOutcome(settings, workdir)
    collector = SeriesCollector(settings.face.thresholds, workdir)
    held = HeldSeries(settings, workdir)

    def fold() -> Iterator[tuple[str, dict[str, Value | str]]]:
        """Consume results once: record them, pass on the patient row."""
        for result in _results(inputs, settings):
            if on_result:
                on_result(result)
            if settings.face.enabled and result.geometry is not None:
                collector.add(result.geometry)
            patient, quasi = result.patient, result.quasi
            if held.holds(result):
                held.add(result)
            else:
                outcome.add(result)
            if result.status == "scanned":
                yield patient, quasi

    try:
        if settings.dataset_risk:
            outcome.add_dataset(dataset_risk.assess(fold(), settings.risk, workdir))
        else:
            for _ in fold():
                pass
        for result in held.judged():
            outcome.add(result)
        if settings.face.enabled:
            previews = settings.face.previews
            for result, _ in collector.assess(previews is not None):
                entry = face_report.entry(result, outcome.face.count, previews)
                outcome.add_series(entry, face_report.finding(entry))
    except BaseException:
        outcome.close()
        raise
    finally:
        collector.close()
        held.close()
    return outcome


__all__ = ["ScanOutcome", "ScanSettings", "build_scan_settings", "scan", "scan_file"]
