"""Batch-level work fed by per-file results: add() each, finish() once.

`deidentify` drives these the same way for every batch; each holds only
what it needs (linkage rows go to disk as they come, head slices to a spool),
so memory does not grow with the batch.
"""

from __future__ import annotations

from typing import Protocol

from pydicom.dataset import Dataset

from deid.errors import OutputError
from deid.face import report as face_report
from deid.face.collect import SeriesCollector
from deid.linkage import PATIENT_TABLE, UID_TABLE, LinkageTables
from deid.options import Option
from deid.report.json_report import ReportBuilder
from deid.results import FileResult
from deid.rewrite import OutputRewriter
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
        self.series = SeriesCollector(settings.face.thresholds)  # spool made lazily
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
        previews = self.settings.face.previews
        for result, outputs in self.series.assess(previews=previews is not None):
            entry = face_report.entry(result, self.report.face.count, previews)
            self.report.add_series(entry, face_report.finding(entry))
            edit = visual_features_edit(result.level, self.settings)
            for source, relative in outputs:
                self.rewriter.rewrite(source, relative, edit)

    def close(self) -> None:
        self.rewriter.close()
        self.series.close()


def visual_features_edit(level: str, settings: Settings):  # noqa: ANN201 - an Edit
    """RecognizableVisualFeatures from the series result: NO where no face is
    left (none; low = defaced or brain-only), YES otherwise; the Clean
    Recognizable Visual Features option is claimed exactly where it is NO."""
    face_free = level in ("none", "low")
    claim = face_free and Option.CLEAN_VISUAL_FEATURES in settings.profile.options

    def edit(ds: Dataset) -> bool:
        value = "NO" if face_free else "YES"
        changed = ds.get("RecognizableVisualFeatures") != value
        ds.RecognizableVisualFeatures = value
        if claim:
            changed = _claim_option(ds, Option.CLEAN_VISUAL_FEATURES) or changed
        # Unchanged: written so at first (YES), or by a run this one resumes.
        return changed

    return edit


def _claim_option(ds: Dataset, option: Option) -> bool:
    codes = ds.get("DeidentificationMethodCodeSequence") or []
    if any(item.get("CodeValue") == option.code for item in codes):
        return False
    item = Dataset()
    item.CodeValue = option.code
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = option.meaning
    codes.append(item)
    return True
