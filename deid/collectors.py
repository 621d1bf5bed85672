"""Batch-level work fed by per-file results: add() each, finish() once.

`deidentify` drives these the same way for every batch; each holds only
what it needs (linkage rows go to disk as they come, head slices to a spool),
so memory does not grow with the batch.
"""

from __future__ import annotations

from typing import Protocol

from deid.errors import OutputError
from deid.face import report as face_report
from deid.face.collect import SeriesCollector
from deid.face.deface import deface_series
from deid.face.markers import set_markers, stale
from deid.linkage import PATIENT_TABLE, UID_TABLE, LinkageTables
from deid.options import Option
from deid.report.json_report import ReportBuilder
from deid.results import FileResult
from deid.rewrite import Edit, OutputRewriter
from deid.settings import Settings


class Collector(Protocol):
    def add(self, result: FileResult) -> None: ...

    def finish(self) -> None: ...

    def close(self) -> None: ...


class Linkage:
    """Original -> pseudonymous identifiers, only into --mapping-dir."""

    def __init__(self, settings: Settings) -> None:
        self.folder = settings.mapping_dir
        active = self.folder is not None and not settings.dry_run
        self.tables = LinkageTables(self.folder) if active else None

    def add(self, result: FileResult) -> None:
        if self.tables is None:
            return
        self.tables.add(UID_TABLE, result.uid_map)
        if result.patient is not None:
            self.tables.add(PATIENT_TABLE, dict([result.patient]))

    def finish(self) -> None:
        self.close()

    def close(self) -> None:
        tables, self.tables = self.tables, None
        if tables is None:
            return
        try:
            tables.close()
        except OSError as exc:
            raise OutputError(
                f"cannot write linkage tables in {self.folder}: {exc.strerror or exc}"
            ) from None


class FaceSeries:
    """Head series judged once complete; their outputs marked truthfully."""

    def __init__(self, settings: Settings, report: ReportBuilder) -> None:
        self.settings = settings
        self.report = report
        # Spool made lazily; previews named by keyed references, never a UID.
        self.series = SeriesCollector(
            settings.face.thresholds, name_key=settings.pseudonymizer.key
        )
        self.rewriter = OutputRewriter(settings)

    def add(self, result: FileResult) -> None:
        geometry, result.geometry = result.geometry, None
        if geometry is None or not result.status.produced:
            return
        # Reported under the pseudonymised series UID, never the original.
        output = (result.input, result.output) if result.output else None
        self.series.add(geometry, result.summary.get("series", ""), output)

    def finish(self) -> None:
        if not self.settings.face.enabled or not self.series.count:
            return
        face = self.settings.face
        for result, outputs in self.series.assess(previews=face.previews is not None):
            if face.deface and self.rewriter.active:  # outputs of medium/high series
                sizes = deface_series(
                    result, outputs, self.settings.output, face.thresholds,
                    face.previews is not None,
                )
                for source, relative in outputs:
                    if relative in sizes:
                        self.rewriter.record(source, sizes[relative])
            entry = face_report.entry(result, self.report.face.count, face.previews)
            self.report.add_series(entry, face_report.finding(entry))
            if stale(result):  # else the markers written at first hold
                edit = visual_features_edit(result.level, self.settings)
                for source, relative in outputs:
                    self.rewriter.rewrite(source, relative, edit)

    def close(self) -> None:
        self.rewriter.close()
        self.series.close()


def visual_features_edit(level: str, settings: Settings) -> Edit:
    """RecognizableVisualFeatures and option 113102 from the series result
    (deid/face/markers.py): NO where no face is left, the option claimed
    exactly there and withdrawn where it no longer holds."""
    chosen = Option.CLEAN_VISUAL_FEATURES in settings.profile.options
    return lambda ds: set_markers(ds, level, chosen)
