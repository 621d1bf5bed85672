"""The library API: what the CLI calls, and what other programs import.

from deid.api import build_settings, deidentify
settings = build_settings(inputs=[Path("in")], output=Path("out"))
outcome = deidentify([Path("in")], settings)
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom

from deid import pipeline
from deid.dicom_io import atomic_write
from deid.errors import OutputError
from deid.face import report as face_report
from deid.face.collect import SeriesCollector
from deid.face.deface import deface_series
from deid.face.markers import set_markers, stale
from deid.face.thresholds import load as load_face_thresholds
from deid.linkage import PATIENT_TABLE, UID_TABLE, LinkageTables
from deid.options import Option
from deid.part10 import encode
from deid.pipeline import FileResult
from deid.report import json_report, views
from deid.report.streamed import without_streamed
from deid.scan import ScanOutcome, ScanSettings, build_scan_settings, scan
from deid.settings import Settings, build_settings

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

    Results stream through: each is added to the linkage tables and the
    report spool and dropped, so memory does not grow with the batch.
    """
    inputs = list(inputs)
    linkage = (
        LinkageTables(settings.mapping_dir)
        if settings.mapping_dir is not None and not settings.dry_run
        else None
    )
    collector = SeriesCollector(  # lazy spool; previews named by keyed references
        load_face_thresholds(*settings.face_thresholds), name_key=settings.pseudonymizer.key
    )
    try:
        builder = json_report.ReportBuilder(settings)
    except OSError as exc:
        raise OutputError(
            f"cannot write the report in {settings.report_dir}: {exc.strerror or exc}"
        ) from None
    try:
        try:
            for result in pipeline.run(inputs, settings, on_result):
                if result.geometry is not None and result.status in (
                    pipeline.WRITTEN,
                    pipeline.DRY_RUN,
                ):
                    # Reported under the pseudonymised series UID, never the original.
                    collector.add(
                        result.geometry,
                        result.summary.get("series", ""),
                        (result.input, result.output) if result.output else None,
                    )
                result.geometry = None
                if linkage is not None:
                    linkage.add(UID_TABLE, result.uid_map)
                    if result.patient is not None:
                        linkage.add(PATIENT_TABLE, dict([result.patient]))
                builder.add(result)
        finally:
            if linkage is not None:
                try:
                    linkage.close()
                except OSError as exc:
                    raise OutputError(
                        f"cannot write linkage tables in {settings.mapping_dir}: "
                        f"{exc.strerror or exc}"
                    ) from None
        if settings.face:
            face_check(collector, settings, builder)
        path = settings.report_dir / REPORT_NAME
        try:
            builder.write(path)
            header = builder.header()
            views.write(
                settings.report_dir, header, builder.entries, builder.worst, "deid run report"
            )
        except OSError as exc:
            raise OutputError(
                f"cannot write the report in {settings.report_dir}: {exc.strerror or exc}"
            ) from None
    finally:
        builder.close()
        collector.close()
    return Outcome(without_streamed(header), path, builder.exit_code)


def face_check(
    collector: SeriesCollector, settings: Settings, builder: json_report.ReportBuilder
) -> None:
    """Assess each head series, record it, and mark its outputs truthfully."""
    if not collector.count:
        return
    journal = None if settings.dry_run else pipeline.Journal(settings.report_dir, settings)
    try:
        previews = settings.face_previews is not None
        for result, outputs in collector.assess(previews=previews):
            rewritten = {}
            if settings.deface and journal is not None:  # outputs of medium/high series
                rewritten = deface_series(
                    result, outputs, settings.output, collector.thresholds, previews
                )
            entry = face_report.entry(result, builder.face.count, settings.face_previews)
            builder.add_series(entry, face_report.finding(entry))
            if journal is None:
                continue
            for source, relative in outputs:
                size = rewritten.get(relative)
                if stale(result):  # else the markers written at first hold
                    path = settings.output / relative
                    size = mark_visual_features(path, result.level, settings) or size
                if size is not None:
                    journal.set_output_size(Path(source), size)
    finally:
        if journal is not None:
            journal.close()


def mark_visual_features(path: Path, level: str, settings: Settings) -> int | None:
    """RecognizableVisualFeatures and option 113102 from the series result
    (deid/face/markers.py); the file is written again only if they changed."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path)
    chosen = Option.CLEAN_VISUAL_FEATURES in settings.profile.options
    if not set_markers(ds, level, chosen):
        return None  # written so at first, or by a run this one resumes
    data = encode(ds)
    atomic_write(path, data)
    return len(data)


__all__ = [
    "Outcome",
    "ScanOutcome",
    "ScanSettings",
    "Settings",
    "build_scan_settings",
    "build_settings",
    "deidentify",
    "scan",
]
