"""`deid scan`: run every detector over files, read-only, and rate the data set.

Headers only (pixel data is not read), so a pre-commit hook on a few files
is quick. Each file yields findings and a small record of its
quasi-identifiers; the data-set risk is computed from those records.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from itertools import chain, islice
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from deid.actions import parse_da, zip_code
from deid.decide import decider_for
from deid.dicom_io import (
    check_inflation,
    check_pixel_span,
    check_read,
    check_tail,
    discover,
    read,
    read_delimited,
    sniff,
    with_transfer_syntax,
)
from deid.errors import InputFileError, UsageError
from deid.executors import ExecutorSettings, Task, results
from deid.face import report as face_report
from deid.face.collect import SeriesCollector, relevant
from deid.face.geometry import SliceGeometry
from deid.host_state import while_deid_runs
from deid.paths import open_regular, resolved
from deid.pipeline import redacted
from deid.pixels import beside
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
    slice_number,
    why_text,
)
from deid.pixels.settings import PixelMode, PixelSettings
from deid.process import warm
from deid.profiles import ResolvedProfile
from deid.report import views
from deid.risk import dataset as dataset_risk
from deid.risk import detectors, outside
from deid.risk.baseline import Baseline
from deid.risk.dataset import DatasetRisk, RiskSettings
from deid.risk.findings import Finding, Severity
from deid.risk.identifiers import IdentifierSet
from deid.risk.kanon import Value
from deid.risk.quasi import QuasiIdentifier
from deid.risk.quasi import plan as quasi_plan
from deid.safetext import without_values
from deid.scrub import collect, patient_key
from deid.settings import (
    Execution,
    FaceSettings,
    Reporting,
    refuse_previews_in,
    require_inputs,
)
from deid.spool import SortedSpool, TopN

UNREADABLE = ("failed", "not-dicom")


@dataclass(frozen=True)
class ScanSettings:
    """Everything `deid scan` needs, built from the same pieces as `run`'s."""

    profile: ResolvedProfile
    risk: RiskSettings
    execution: Execution = field(default_factory=Execution)
    reporting: Reporting = field(default_factory=Reporting)
    pixels: PixelSettings = field(default_factory=lambda: PixelSettings(mode="off"))
    face: FaceSettings = field(default_factory=lambda: FaceSettings(enabled=False))
    baseline: Baseline | None = None
    ignore_non_dicom: bool = False  # named files that are not DICOM (hooks pass every file)
    dataset_risk: bool = True

    jobs = property(lambda self: self.execution.jobs)
    executor = property(lambda self: str(self.execution.executor))
    scheduler = property(lambda self: self.execution.scheduler)
    fail_on = property(lambda self: self.reporting.fail_on)
    show_values = property(lambda self: self.reporting.show_values)
    strict = property(lambda self: self.reporting.strict)

    @property
    def quasi_identifiers(self) -> tuple[str, ...]:
        return self.risk.names

    @property
    def k(self) -> int:
        return self.risk.threshold


@dataclass(frozen=True)
class RiskChoice:
    """The data-set risk options as given; `risk_settings` checks them."""

    enabled: bool = True
    quasi_identifiers: tuple[str, ...] = ()
    k: int | None = None
    sensitive: str | None = None
    population: int | None = None
    sampling_fraction: float | None = None
    max_risk: float | None = None
    fail_on_dataset: bool = False


def risk_settings(resolved: ResolvedProfile, choice: RiskChoice) -> RiskSettings:
    """Quasi-identifiers (the profile's unless given), k, and the population
    and gate options, each refused with one line when it cannot be used."""
    k = choice.k if choice.k is not None else resolved.meta.k_threshold
    if k < 2:
        raise UsageError("-k must be at least 2")
    given, sensitive = tuple(choice.quasi_identifiers), choice.sensitive
    names = given or resolved.meta.quasi_identifiers
    flag = "--qi" if given else f"profile {resolved.meta.name} [risk] quasi_identifiers:"
    _check_risk_options(choice)
    if sensitive is not None and sensitive in given:
        raise UsageError(f"--sensitive {sensitive} is also given to --qi: name it once")
    # A sensitive attribute among the profile's quasi-identifiers (BodyPartExamined)
    # is what the attacker learns, not what he links on: it leaves the list.
    names = tuple(name for name in names if name != sensitive)
    return RiskSettings(
        quasi=quasi_plan(tuple(dict.fromkeys(names)), resolved, flag),
        sensitive=quasi_plan((sensitive,), resolved, "--sensitive")[0] if sensitive else None,
        rare_only=resolved.meta.rare_only,
        threshold=k,
        population=choice.population,
        sampling_fraction=choice.sampling_fraction,
        max_risk=choice.max_risk,
        fail_on_dataset=choice.fail_on_dataset,
    )


def build_scan_settings(
    profile: ResolvedProfile,
    risk: RiskChoice | None = None,
    *,
    execution: Execution | None = None,
    reporting: Reporting | None = None,
    pixels: PixelSettings | None = None,
    face: FaceSettings | None = None,
    baseline: Path | None = None,
    ignore_non_dicom: bool = False,
) -> ScanSettings:
    risk = risk or RiskChoice()
    return ScanSettings(
        profile=profile,
        risk=risk_settings(profile, risk),
        execution=execution or Execution.build(),
        reporting=reporting or Reporting(),
        pixels=pixels or PixelSettings.build(redact="none"),
        face=face or FaceSettings.build(),
        baseline=Baseline.load(baseline) if baseline is not None else None,
        ignore_non_dicom=ignore_non_dicom,
        dataset_risk=risk.enabled,
    )


def _check_risk_options(choice: RiskChoice) -> None:
    population, sampling_fraction = choice.population, choice.sampling_fraction
    max_risk, fail_on_dataset = choice.max_risk, choice.fail_on_dataset
    if population is not None and sampling_fraction is not None:
        raise UsageError("give --population or --sampling-fraction, not both")
    if population is not None and population < 1:
        raise UsageError("--population must be a number of people, at least 1")
    if sampling_fraction is not None and not 0 < sampling_fraction <= 1:
        raise UsageError("--sampling-fraction must be above 0 and at most 1")
    if max_risk is not None and not 0 < max_risk <= 1:
        raise UsageError("--max-risk must be above 0 and at most 1 (e.g. 0.2 for k >= 5)")
    if not choice.enabled and (max_risk is not None or fail_on_dataset):
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
    found = zip_code(_text(ds, "PatientAddress"))  # as the hipaa zip3 action finds it
    return (found,) if found else ()


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
        try:
            return _scan_file(path, settings, named)
        except MemoryError:
            raise  # the executor reports it against the worker's memory budget
        except Exception as exc:  # noqa: BLE001 - a value pydicom cannot decode, anywhere
            detail = without_values(" ".join(str(exc).split()))[:200]
            detail = detail or "a value deid cannot decode"
            return ScanFileResult(str(path), "failed", f"cannot scan: {detail}")


def _scan_file(path: Path, settings: ScanSettings, named: bool) -> ScanFileResult:
    label = str(path)
    try:
        kind = sniff(path)
        if not kind:
            return ScanFileResult(label, "not-dicom" if named else "skipped", "not a DICOM file")
        if kind == "part10":
            check_inflation(path)
        with open_regular(path) as fh:
            ds = read_delimited(path, fh, stop_before_pixels=True, force=kind == "raw")
            where, head = fh.tell(), fh.read(12)  # where the pixel data starts
            if not head:  # read to the end: no pixel data
                check_tail(path, ds, fh)
        check_read(path, ds, kind, pixels_read=False)
        span = check_pixel_span(path, ds, where, head)
    except InputFileError as exc:
        return ScanFileResult(label, "failed", without_values(str(exc)).removeprefix(f"{path}: "))
    except MemoryError:
        raise  # the executor reports it against the worker's memory budget
    except Exception as exc:  # noqa: BLE001 - a scan survives any bad file
        first = without_values(str(exc).splitlines()[0]) if str(exc) else type(exc).__name__
        return ScanFileResult(label, "failed", f"unreadable DICOM: {first}")
    decider, found, identifiers = _judged(ds, settings)
    ctx = detectors.ScanContext(label, ds, decider, identifiers, found, settings.pixels)
    findings: list[Finding] = []
    for detector in detectors.DETECTORS:
        findings.extend(detector(ctx))
    findings.extend(
        outside.findings(path, kind, _syntax(ds), where, head, identifiers.terms(), label)
    )
    if span is not None:
        findings.extend(
            outside.surplus_findings(path, _syntax(ds), ds, span, identifiers.terms(), label)
        )
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


def _scan_item(path: str, named: bool, settings: ScanSettings) -> ScanFileResult:
    """One work item, as every executor runs it."""
    return scan_file(Path(path), settings, named)


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
    series = str(ds.get("SeriesInstanceUID", "") or "") or f"no-series:{label}"
    return Member(series, slice_number(ds), label, label, layout, None)


def examine_file(
    path: Path, identifiers: IdentifierSet, pixels: PixelSettings, label: str
) -> list[Finding]:
    """Burned-in text in one file, reported only; a file whose pixels cannot
    be decoded is a finding too (it was not checked), and so is what its
    pixel data holds beside the image."""
    def why(exc: InputFileError) -> Finding:
        return unchecked(label, without_values(str(exc)).removeprefix(f"{path}: "))

    try:
        full = read(path)  # complete-file checks apply before pixels are trusted
        with_transfer_syntax(full)  # a headerless data set's pixels decode as in a run
    except InputFileError as exc:
        return [why(exc)]
    found = beside.findings(full, label, remove=False)
    try:
        found += examine(full, identifiers, pixels, label, modify=False).findings
    except InputFileError as exc:
        found.append(why(exc))
    return found


def unchecked(label: str, reason: str) -> Finding:
    return Finding(
        "pixels.unchecked",
        Severity.HIGH,
        f"pixel data could not be checked for burned-in text: {reason}",
        file=label,
        location="PixelData",
        action="review by eye",
    )


def examine_again(label: str, settings: ScanSettings) -> list[Finding]:
    """A slice of a sampled series examined (series step; `settings.pixels`
    says why)."""
    path = Path(label)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with open_regular(path) as fh:
                ds = pydicom.dcmread(fh, stop_before_pixels=True, force=True)
    except Exception:  # noqa: BLE001 - examine_file says why it cannot be read
        return examine_file(path, IdentifierSet(), settings.pixels, label)
    return examine_file(path, _judged(ds, settings)[2], settings.pixels, label)


def _examine_item(label: str, _flag: bool, settings: ScanSettings) -> tuple[str, list[Finding]]:
    return label, examine_again(label, settings)


def _examine_many(labels: list[str], settings: ScanSettings, why: str) -> dict[str, list[Finding]]:
    """Each file's burned-in text findings, on the scan's executor (a file
    that kills its worker is reported, as in the batch)."""
    settings = replace(settings, pixels=settings.pixels.examining_all(why))

    def failed(item: tuple[str, bool], reason: str, _died: bool) -> tuple[str, list[Finding]]:
        return item[0], [unchecked(item[0], reason)]

    jobs = settings.jobs if len(labels) > 2 else 1
    config = ExecutorSettings(settings.executor, jobs, settings.scheduler)
    task = Task(_examine_item, settings, failed)
    return dict(results(((label, False) for label in labels), task, config))


class HeldSeries:
    """Slices of series examined by samples (deid.pixels.series), held until
    their series is judged: samples examined, every slice when a sample or
    the static-overlay check finds text; then reported as they finally are."""

    def __init__(
        self,
        settings: ScanSettings,
        publish: Callable[[ScanFileResult], None],
        workdir: Path | None = None,
    ) -> None:
        self.settings, self.publish = settings, publish
        self.sampler = SeriesSampler(workdir)

    def holds(self, result: ScanFileResult) -> bool:
        return result.series is not None and self.settings.pixels.mode is PixelMode.AUTO

    def add(self, result: ScanFileResult) -> None:
        if not self.holds(result):
            return
        member = result.series
        if result.pixels == Verdict.EXAMINE:
            member.examined = "sample"  # the first slice: its worker examined it
        member.item = {
            "input": result.input,
            "status": result.status,
            "reason": result.reason,
            "findings": [f.to_dict() for f in result.findings],
        }
        self.sampler.add(member)

    def finish(self) -> None:
        for chunk in self.sampler.chunks():
            for result in self._judge(chunk):
                self.publish(result)

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
            finding = series_finding(
                found, why[found.key], found.samples()[0].source, where="its series"
            )
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
        if workdir is None or workdir.is_dir():
            SortedSpool.clear_stale(workdir)  # a killed scan's (system temp by default)
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
    inputs: list[Path], settings: ScanSettings
) -> Iterator[ScanFileResult | tuple[str, bool]]:
    """Work items: (path, whether a non-DICOM file there is a failure). Named
    files are (unless --ignore-non-dicom), and with --strict every file is."""
    named = set() if settings.ignore_non_dicom else {str(p) for p in inputs if not p.is_dir()}
    for item in discover(inputs):
        if item.problem:
            yield ScanFileResult(str(item.path), "skipped" if item.skip else "failed", item.problem)
        else:
            yield str(item.path), settings.strict or str(item.path) in named


def _results(inputs: list[Path], settings: ScanSettings) -> Iterator[ScanFileResult]:
    """Every input's result as it is ready, from the executor settings name.
    A handful of files (a pre-commit hook) is scanned in-process: starting
    workers would cost more than the scan."""
    items = _files(inputs, settings)
    head = list(islice(items, 17))
    config = ExecutorSettings(settings.executor, settings.jobs, settings.scheduler)
    if settings.executor == "local" and len(head) <= 16:
        config = ExecutorSettings("local", 1)
    task = Task(_scan_item, settings, _unfinished, warm=warm)
    return results(chain(head, items), task, config)


def _unfinished(item: tuple[str, bool], reason: str, died: bool) -> ScanFileResult:
    return ScanFileResult(item[0], "failed", reason)


def scope_of(path: str, here: Path | None) -> str:
    """A file's place as a baseline knows it, the same however it is reached
    (links resolved): its path below the working folder `here` (pre-commit
    names staged files so, from the repository's root, as a scan of a folder
    there finds them), else its full path. Never a position under the folder
    named, nor a bare name: another folder's files share those."""
    where = resolved(path)  # a link loop: the file's read reports it
    if here is not None and where.is_relative_to(here):
        return where.relative_to(here).as_posix()
    return where.as_posix()


def _working_folder() -> Path | None:
    try:
        return Path.cwd().resolve()
    except OSError:  # removed while deid runs in it
        return None


class ScanFaceSeries:
    """Head series, judged once complete (as `deid run`'s FaceSeries, with
    nothing to rewrite): add() each file's result, finish() once."""

    def __init__(
        self,
        settings: ScanSettings,
        outcome: ScanOutcome,
        workdir: Path | None,
        here: Path | None = None,
    ) -> None:
        self.settings, self.outcome, self.here = settings, outcome, here
        self.series = SeriesCollector(settings.face.thresholds, workdir)

    def add(self, result: ScanFileResult) -> None:
        if self.settings.face.enabled and result.geometry is not None:
            self.series.add(result.geometry, label=result.input)

    def finish(self) -> None:
        if not self.settings.face.enabled:
            return
        previews = self.settings.face.previews
        for result, _ in self.series.assess(previews is not None, self.settings.jobs):
            # Named by its first file's place (as baselines know files), never
            # by its Series Instance UID: a scan's is the original.
            result.series = scope_of(result.series, self.here)
            entry = face_report.entry(result, self.outcome.face.count, previews)
            where = f"series of {result.series}"
            self.outcome.add_series(entry, face_report.finding(entry, where))

    def close(self) -> None:
        self.series.close()


def scan(
    inputs: Iterable[Path],
    settings: ScanSettings,
    on_result: Callable[[ScanFileResult], None] | None = None,
    workdir: Path | None = None,
) -> ScanOutcome:
    """Scan every input; `workdir` holds the outcome's spool (system temp by
    default). Results stream through the outcome and the collectors; the
    data-set risk folds the patient rows as they pass. A named input that is
    not there is a usage error before any work, as in `deidentify`."""
    inputs = [Path(p) for p in inputs]
    require_inputs(inputs)
    refuse_previews_in(settings.face.previews, inputs)
    with while_deid_runs():
        return _scan(inputs, settings, on_result, workdir)


def _scan(
    inputs: list[Path],
    settings: ScanSettings,
    on_result: Callable[[ScanFileResult], None] | None,
    workdir: Path | None,
) -> ScanOutcome:
    here = _working_folder()
    outcome = ScanOutcome(settings, workdir)

    def publish(result: ScanFileResult) -> None:
        scope = scope_of(result.input, here)
        result.findings = [replace(f, scope=scope) for f in result.findings]
        outcome.add(result)

    held = HeldSeries(settings, publish, workdir)
    collectors = [held, ScanFaceSeries(settings, outcome, workdir, here)]

    def fold() -> Iterator[tuple[str, dict[str, Value | str]]]:
        """Consume results once: record them, pass on the patient row."""
        for result in _results(inputs, settings):
            if on_result:
                on_result(result)
            for collector in collectors:
                collector.add(result)
            if not held.holds(result):
                publish(result)
            if result.status == "scanned":
                yield result.patient, result.quasi

    try:
        if settings.dataset_risk:
            outcome.add_dataset(dataset_risk.assess(fold(), settings.risk, workdir))
        else:
            for _ in fold():
                pass
        for collector in collectors:
            collector.finish()
    except BaseException:
        outcome.close()
        raise
    finally:
        for collector in collectors:
            collector.close()
    return outcome


__all__ = ["ScanOutcome", "ScanSettings", "build_scan_settings", "scan", "scan_file"]
