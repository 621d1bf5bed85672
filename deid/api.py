"""The library API: what the CLI calls, and what other programs import.

from deid.api import build_settings, deidentify
settings = build_settings(inputs=[Path("in")], output=Path("out"))
outcome = deidentify([Path("in")], settings)
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset

from deid import pipeline
from deid.dicom_io import atomic_write
from deid.errors import OutputError
from deid.face import report as face_report
from deid.face.collect import SeriesCollector
from deid.face.thresholds import load as load_face_thresholds
from deid.linkage import PATIENT_TABLE, UID_TABLE, LinkageTables
from deid.options import Option
from deid.part10 import encode
from deid.pipeline import FileResult
from deid.report import json_report, views
from deid.report.streamed import without_streamed
from deid.scan import ScanOutcome, ScanSettings, build_scan_settings, scan
from deid.settings import Settings, build_settings
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

    Results stream through: each is added to the linkage tables and the
    report spool and dropped, so memory does not grow with the batch. The
    folders written into are locked for the run: a second deid writing into
    one of them is refused with one line.
    """
    inputs = list(inputs)
    if settings.mapping_dir is not None and not settings.dry_run:
        LinkageTables.prepare(settings.mapping_dir)
    with exclusive(*written_folders(settings)):
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
    linkage = (
        LinkageTables(settings.mapping_dir)
        if settings.mapping_dir is not None and not settings.dry_run
        else None
    )
    collector = SeriesCollector(load_face_thresholds(*settings.face_thresholds))  # lazy spool
    try:
        builder = json_report.ReportBuilder(settings)
    except OSError as exc:
        raise OutputError(
            f"cannot write the report in {settings.report_dir}: {exc.strerror or exc}"
        ) from None
    refuse = [settings.output, settings.report_dir]
    refuse += [p for p in (settings.mapping_dir, settings.face_previews) if p is not None]
    try:
        with closing(pipeline.run(inputs, settings, on_result, refuse)) as results:
            try:
                for result in results:
                    _fold(result, collector, linkage, builder)
            finally:
                if linkage is not None:
                    linkage.close()  # a fault is one line (OutputError)
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


def _fold(
    result: FileResult,
    collector: SeriesCollector,
    linkage: LinkageTables | None,
    builder: json_report.ReportBuilder,
) -> None:
    """One result into the face collector, the linkage tables and the report."""
    if result.geometry is not None and result.status in (pipeline.WRITTEN, pipeline.DRY_RUN):
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


def face_check(
    collector: SeriesCollector, settings: Settings, builder: json_report.ReportBuilder
) -> None:
    """Assess each head series, record it, and mark its outputs truthfully."""
    if not collector.count:
        return
    journal = None if settings.dry_run else pipeline.Journal(settings.report_dir, settings)
    try:
        for result, outputs in collector.assess(previews=settings.face_previews is not None):
            entry = face_report.entry(result, builder.face.count, settings.face_previews)
            builder.add_series(entry, face_report.finding(entry))
            if journal is None:
                continue
            for source, relative in outputs:
                size = mark_visual_features(settings.output / relative, result.level, settings)
                if size is not None:
                    journal.set_output_size(Path(source), size)
    finally:
        if journal is not None:
            journal.close()


def mark_visual_features(path: Path, level: str, settings: Settings) -> int | None:
    """RecognizableVisualFeatures from the series result: NO where no face is
    left (none; low = defaced or brain-only), YES otherwise; the Clean
    Recognizable Visual Features option is claimed exactly where it is NO."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path)
    value = "NO" if level in ("none", "low") else "YES"
    changed = ds.get("RecognizableVisualFeatures") != value
    ds.RecognizableVisualFeatures = value
    if level in ("none", "low") and Option.CLEAN_VISUAL_FEATURES in settings.profile.options:
        codes = ds.get("DeidentificationMethodCodeSequence") or []
        if not any(item.get("CodeValue") == Option.CLEAN_VISUAL_FEATURES.code for item in codes):
            item = Dataset()
            item.CodeValue = Option.CLEAN_VISUAL_FEATURES.code
            item.CodingSchemeDesignator = "DCM"
            item.CodeMeaning = Option.CLEAN_VISUAL_FEATURES.meaning
            codes.append(item)
            changed = True
    if not changed:
        return None  # written so at first (YES), or by a run this one resumes
    data = encode(ds)
    atomic_write(path, data, root=settings.output)
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
