"""The library API: what the CLI calls, and what other programs import.

from deid.api import Destinations, build_settings, deidentify, resolve_profile
inputs = [Path("in")]
settings = build_settings(resolve_profile("basic"), Destinations.build(inputs, Path("out")))
outcome = deidentify(inputs, settings)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deid import pipeline
from deid.collectors import Collector, FaceSeries, Linkage, PixelSeries
from deid.errors import OutputError
from deid.pixels.settings import PixelSettings
from deid.report import json_report, views
from deid.report.streamed import without_streamed
from deid.results import FileResult
from deid.scan import ScanOutcome, ScanSettings, build_scan_settings, scan
from deid.settings import (
    Destinations,
    Execution,
    FaceSettings,
    KeyChoice,
    Reporting,
    Settings,
    build_settings,
    resolve_profile,
)

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

    Results stream through the collectors: each is added to the linkage
    tables, the face series spool and the report spool and dropped, so memory
    does not grow with the batch. Series-level work runs in their finish().
    """
    inputs = list(inputs)
    try:
        builder = json_report.ReportBuilder(settings)
    except OSError as exc:
        raise _report_error(settings, exc) from None
    # Sampled series are judged (and their outputs replaced) before the face
    # step marks the same outputs; their files reach the report when judged.
    series = PixelSeries(settings, builder)
    collectors: list[Collector] = [Linkage(settings), series, FaceSeries(settings, builder)]
    try:
        for result in pipeline.run(inputs, settings, on_result):
            for collector in collectors:
                collector.add(result)
            if not series.holds(result):
                builder.add(result)
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
            raise _report_error(settings, exc) from None
    finally:
        for collector in collectors:
            collector.close()
        builder.close()
    return Outcome(without_streamed(header), path, builder.exit_code)


def _report_error(settings: Settings, exc: OSError) -> OutputError:
    return OutputError(f"cannot write the report in {settings.report_dir}: {exc.strerror or exc}")


__all__ = [
    "Destinations",
    "Execution",
    "FaceSettings",
    "KeyChoice",
    "Outcome",
    "PixelSettings",
    "Reporting",
    "resolve_profile",
    "ScanOutcome",
    "ScanSettings",
    "Settings",
    "build_scan_settings",
    "build_settings",
    "deidentify",
    "scan",
]
