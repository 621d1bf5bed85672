"""The library API: what the CLI calls, and what other programs import.

from deid.api import Destinations, build_settings, deidentify, resolve_profile
inputs = [Path("in")]
settings = build_settings(resolve_profile("basic"), Destinations.build(inputs, Path("out")))
outcome = deidentify(inputs, settings)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import ExitStack, closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deid import pipeline, run_identity
from deid.collectors import Collector, FaceSeries, Linkage, PixelSeries
from deid.errors import (
    DeidError,
    DeidWarning,
    InputFileError,
    KeyConfigError,
    OutputError,
    ProfileError,
    UsageError,
)
from deid.host_state import while_deid_runs
from deid.id_issuers import IdIssuers
from deid.linkage import LinkageTables
from deid.pixels.settings import PixelSettings
from deid.profiles import shipped_profiles
from deid.report import json_report, views
from deid.report.streamed import without_streamed
from deid.results import FileResult, Status
from deid.risk.findings import Finding, Severity
from deid.scan import (
    RiskChoice,
    ScanFileResult,
    ScanOutcome,
    ScanSettings,
    build_scan_settings,
    scan,
)
from deid.settings import (
    Destinations,
    Execution,
    FaceSettings,
    KeyChoice,
    Reporting,
    Settings,
    build_settings,
    refuse_previews_in,
    resolve_profile,
)
from deid.study_patients import StudyPatients
from deid.writing import exclusive

REPORT_NAME = "report.json"


@dataclass(frozen=True)
class Outcome:
    # report.json without its lists that grow with the batch (files, face series,
    # data-set findings): those are in the file; totals and face levels count them.
    report: dict[str, Any]
    report_path: Path | None
    exit_code: int


def deidentify(
    inputs: Iterable[Path],
    settings: Settings,
    on_result: Callable[[FileResult], None] | None = None,
) -> Outcome:
    """De-identify every input into settings.output; write report and linkage.

    The folders written into are locked for the run: a second deid writing
    into one of them is refused with one line; so is a run into an OUT made
    with another key, profile or options.
    """
    inputs = [Path(p) for p in inputs]
    settings.destinations.check(inputs)  # pieces made directly were never checked
    refuse_previews_in(settings.face.previews, [settings.output, *inputs])
    if settings.mapping_dir is not None and not settings.dry_run:
        LinkageTables.prepare(settings.mapping_dir)
    with while_deid_runs(), exclusive(*written_folders(settings)):
        run_identity.claim(
            settings.output,
            settings.identity(),
            anonymising=not settings.profile.meta.linkage,
            record=not settings.dry_run,
        )
        return _deidentify(inputs, settings, on_result)


def written_folders(settings: Settings) -> list[Path]:
    """Where this run writes; locked while it runs, never read as input."""
    folders = [settings.report_dir]
    if not settings.dry_run:
        folders.append(settings.output)
        if settings.mapping_dir is not None:
            folders.append(settings.mapping_dir)
    return folders


def _deidentify(
    inputs: list[Path], settings: Settings, on_result: Callable[[FileResult], None] | None
) -> Outcome:
    """Results stream through the collectors: each is added to the linkage
    tables, the face series spool and the report spool and dropped, so memory
    does not grow with the batch. Series-level work runs in their finish()."""
    try:
        builder = json_report.ReportBuilder(settings)
    except OSError as exc:
        raise _report_error(settings.report_dir, exc) from None
    collectors: list[Collector] = []
    refuse = [settings.output, settings.report_dir]
    refuse += [p for p in (settings.mapping_dir, settings.face.previews) if p is not None]
    try:
        collectors.append(Linkage(settings))  # refused here: a link where a table belongs
        # Sampled series are judged (and their outputs replaced) before the face
        # step marks the same outputs; their files reach the report when judged.
        series = PixelSeries(settings, builder)
        collectors.append(series)
        faces = FaceSeries(settings, builder)
        collectors.append(faces)
        collectors += [IdIssuers(builder), StudyPatients(builder)]
        with closing(pipeline.run(inputs, settings, on_result, refuse)) as results:
            for result in results:
                for collector in collectors:
                    collector.add(result)
                if not series.holds(result):
                    builder.add(result)
        faces.begin()  # judging reads inputs only: it runs beside the pixel step
        for collector in collectors:
            collector.finish()
        path = settings.report_dir / REPORT_NAME
        try:
            builder.write(path)
            header = builder.header()
            views.write(
                settings.report_dir, header, builder.entries, builder.worst, "deid run report"
            )
        except OSError as exc:
            raise _report_error(settings.report_dir, exc) from None
    finally:
        close_all([collector.close for collector in collectors] + [builder.close])
    return Outcome(without_streamed(header), path, builder.exit_code)


def close_all(closers: list[Callable[[], None]]) -> None:
    """Each in turn, every one even when one fails: a report spool was left
    in the report folder when the linkage tables were refused."""
    with ExitStack() as stack:
        for close in reversed(closers):  # an ExitStack runs the last pushed first
            stack.callback(close)


def write_scan_reports(outcome: ScanOutcome, settings: ScanSettings, report_dir: Path) -> None:
    """report.json, findings.csv, report.sarif and report.html of a scan, as
    `deid scan --report-dir` writes them (each whole, or not at all). Keep
    them out of the inputs: the next scan would read them as input."""
    from deid.report import scan_report

    try:
        scan_report.write_files(Path(report_dir), outcome, settings)
    except OSError as exc:
        raise _report_error(report_dir, exc) from None


def write_baseline(path: Path, outcome: ScanOutcome) -> int:
    """Every finding of a scan as a baseline (`deid scan --write-baseline`):
    a later scan given it reports only what is new. Returns the count."""
    from deid.risk import baseline

    try:
        return baseline.write(Path(path), outcome.findings())
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None


def _report_error(folder: Path, exc: OSError) -> OutputError:
    return OutputError(f"cannot write the report in {folder}: {exc.strerror or exc}")


__all__ = [
    # Settings, each piece checked as it is made
    "Destinations",
    "Execution",
    "FaceSettings",
    "KeyChoice",
    "PixelSettings",
    "Reporting",
    "RiskChoice",
    "ScanSettings",
    "Settings",
    "build_scan_settings",
    "build_settings",
    "resolve_profile",
    "shipped_profiles",
    # Work
    "deidentify",
    "scan",
    "write_baseline",
    "write_scan_reports",
    # What comes back: outcomes, per-file results (on_result), findings
    "FileResult",
    "Finding",
    "Outcome",
    "ScanFileResult",
    "ScanOutcome",
    "Severity",
    "Status",
    # Errors (each one line, with the CLI's exit code) and warnings
    "DeidError",
    "DeidWarning",
    "InputFileError",
    "KeyConfigError",
    "OutputError",
    "ProfileError",
    "UsageError",
]
