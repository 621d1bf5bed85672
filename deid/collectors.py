"""Batch-level work fed by per-file results: add() each, finish() once.

`deidentify` drives these the same way for every batch; each holds only
what it needs (linkage rows go to disk as they come, head slices to a spool),
so memory does not grow with the batch.
"""

from __future__ import annotations

import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from pydicom.dataset import Dataset

from deid.ahead import Ahead, in_background
from deid.errors import OutputError
from deid.face import report as face_report
from deid.face.collect import SeriesCollector
from deid.face.markers import set_markers, stale
from deid.linkage import PATIENT_TABLE, UID_TABLE, LinkageTables
from deid.options import Option
from deid.pipeline import again
from deid.pixels.classify import load_allowlist
from deid.pixels.examine import MARGIN_FRACTION
from deid.pixels.policy import Verdict
from deid.pixels.redact import fill_boxes
from deid.pixels.series import (
    SAMPLE_REASON,
    TEXT_REASON,
    TEXT_RULES,
    UNVERIFIED,
    Member,
    Overlay,
    RawLayout,
    SampledSeries,
    SeriesSampler,
    carries_text,
    overlay_findings,
    overlay_to_redact,
    series_finding,
    why_text,
)
from deid.pixels.settings import PixelMode, RedactMode
from deid.process import FileState, decide, process_file, read_input
from deid.report.json_report import ReportBuilder
from deid.results import FileResult, Status, change_key
from deid.rewrite import Edit, OutputRewriter
from deid.risk.findings import Finding, Severity
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
        self.series = SeriesCollector(settings.face.thresholds, name_key=settings.pseudonymizer.key)
        self.rewriter = OutputRewriter(settings)
        self._loading: threading.Thread | None = None
        self._ahead: Ahead | None = None
        self._quiet = ExitStack()

    def add(self, result: FileResult) -> None:
        geometry, result.geometry = result.geometry, None
        if geometry is None or not result.status.produced:
            return
        if self._loading is None and self.settings.face.enabled:
            # OpenCV and scipy load while the batch still runs, not after it.
            self._loading = in_background(_load_face_check)
        # Reported under the pseudonymised series UID, never the original.
        output = (result.input, result.output) if result.output else None
        self.series.add(geometry, result.summary.get("series", ""), output)

    def begin(self) -> None:
        """Start judging series while the pixel step finishes: judging reads
        inputs only, which nothing changes; what it decides is written in
        finish(), after the pixel step replaced its outputs. A few series run
        ahead, so memory stays bounded. One job: one thing at a time."""
        face = self.settings.face
        if not face.enabled or not self.series.count or self.settings.jobs <= 1:
            return
        self._joined()
        # The judging threads silence warnings through the process-wide
        # filter list while the pixel step's threads do too: whatever order
        # they leave in, the list is put back once both are done.
        self._quiet.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore")
        judged = self.series.assess(face.previews is not None, self.settings.jobs)
        self._ahead = Ahead(judged, depth=2 * self.settings.jobs)

    def finish(self) -> None:
        if not self.settings.face.enabled or not self.series.count:
            return
        self._joined()
        face = self.settings.face
        judged = self._ahead or self.series.assess(face.previews is not None, self.settings.jobs)
        for result, outputs in judged:
            if face.deface and self.rewriter.active:  # outputs of medium/high series
                from deid.face.deface import deface_series  # scipy: only when asked

                sizes = deface_series(
                    result,
                    outputs,
                    self.settings.output,
                    face.thresholds,
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
        self._stop()

    def _joined(self) -> None:
        if self._loading is not None:
            self._loading.join()

    def _stop(self) -> None:
        """The judging thread ended (its series closed) before the filters
        it changed are put back."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            ahead.close()
        self._quiet.close()

    def close(self) -> None:
        self._joined()
        self._stop()
        self.rewriter.close()
        self.series.close()


def _load_face_check() -> None:
    import deid.face.assess  # noqa: F401 - loaded for later


class PixelSeries:
    """ORIGINAL CT/MR/PT/NM slices judged per series (deid.pixels.series).

    Their results wait here (in memory, on disk past a bound) until the
    series is judged: samples not examined yet (the first slice is, by its
    worker) are processed again with their pixels examined, a series found
    to carry text has every other slice processed again (redacted, outputs
    replaced), and the report gets each file as it finally is. The journal
    learns each series' new records once the series is judged (through the
    rewriter), so a resumed run picks the same samples, finishes a series
    half redacted before a crash, and reports what the first run reported.
    """

    def __init__(self, settings: Settings, report: ReportBuilder) -> None:
        self.settings = settings
        self.report = report
        self.sampler = SeriesSampler()  # spool in system temp: records name inputs
        self.rewriter = OutputRewriter(settings)
        self._change_ids: dict[tuple, int] = {}  # distinct change lists, shared
        self._changes: list[list[dict[str, str]]] = []
        self._warming: threading.Thread | None = None
        # Kept for the whole run: each thread's OCR engine is made once
        # (~40 ms), not once per chunk of series.
        self._threads: ThreadPoolExecutor | None = None

    def holds(self, result: FileResult) -> bool:
        return (
            self.settings.pixels.mode is PixelMode.AUTO
            and result.status.produced
            and _examined(result.summary.get("pixels", "")) is not None
        )

    def _source(self, result: FileResult) -> str:
        """The file whose raw pixels the static check reads."""
        if self.settings.dry_run:
            return result.input
        return str(self.settings.output / result.output)

    def add(self, result: FileResult) -> None:
        if not self.holds(result):
            return
        if self._warming is None:  # samples will be examined: load what they need meanwhile
            self._warming = in_background(_warm, Path(result.input), self.settings)
        examined = _examined(result.summary.get("pixels", "")) or ""
        # The static check reads raw pixels as the input has them: an output
        # already examined may be redacted, so its input is read instead.
        source = result.input if examined else self._source(result)
        layout = None if self.settings.dry_run or examined else result.pixel_layout
        if layout is None:
            layout = RawLayout.of_file(Path(source))
        key = change_key(result.changes)
        if key not in self._change_ids:
            self._change_ids[key] = len(self._changes)
            self._changes.append(result.changes)
        item = {**_record(result), "changes": self._change_ids[key]}
        order = int(result.summary.get("slice", "0") or 0)
        series = result.summary.get("series", "")
        self.sampler.add(Member(series, order, result.input, source, layout, item, examined))

    def finish(self) -> None:
        for chunk in self.sampler.chunks():
            self._judge(chunk)
        self._end_threads()
        self.rewriter.close()  # committed before the face step edits the same journal

    def _judge(self, chunk: list[SampledSeries]) -> None:
        samples = [m for found in chunk for m in found.to_sample()]
        done = self._again(samples, SAMPLE_REASON, here=True)
        why = {found.key: self._why_text(found, done) for found in chunk}
        # A series with text whose constant pixels could not be read (stored
        # compressed): faint text the detector misses would go unnoticed, so
        # every slice, samples too, is processed again claiming no clean picture.
        unsure = {found.key for found in chunk if why[found.key] and found.static_problem}
        rest = [
            m
            for found in chunk
            if why[found.key] and found.key not in unsure
            for m in found.members
            if not m.examined and m.item["input"] not in done
        ]
        done.update(self._again(rest, TEXT_REASON))
        whole = [m for found in chunk if found.key in unsure for m in found.members]
        done.update(self._again(whole, TEXT_REASON, unverified=UNVERIFIED))
        for found in chunk:
            self._publish(found, why[found.key], done)

    def _publish(self, found: SampledSeries, why: str, done: dict[str, FileResult]) -> None:
        """A judged series' files to the report, and what changed of them to
        the journal: processed again, overlay redacted, or carrying the
        series' finding."""
        results = {m.item["input"]: done.get(m.item["input"]) for m in found.members}
        changed = {name for name, result in results.items() if result is not None}
        for m in found.members:
            results[m.item["input"]] = results[m.item["input"]] or self._restore(m.item)
        carrier = found.samples()[0].item["input"]
        finding = series_finding(found, why, carrier)
        findings = (f for r in results.values() for f in r.findings)
        told = any(f.rule.startswith("pixels.series-") for f in findings)
        if finding is not None and not told:
            results[carrier].findings.append(finding)
            changed.add(carrier)
        overlay = self._overlay(found) if why else []
        for m in found.members:
            name, result = m.item["input"], results[m.item["input"]]
            if overlay and not any(f.rule == "pixels.static-overlay" for f in result.findings):
                self._redact_overlay(result, overlay)
                changed.add(name)
            if name in changed:
                self.rewriter.replaced(result, m.item["output"])
            self.report.add(result)

    def _overlay(self, found: SampledSeries) -> list[Overlay]:
        pixels = self.settings.pixels
        allow = load_allowlist(*pixels.allowlists)
        return overlay_to_redact(found, allow, pixels.redact is RedactMode.ALL_TEXT)

    def _redact_overlay(self, result: FileResult, overlay: list[Overlay]) -> None:
        """A static overlay is text in every slice, even where one slice's
        picture hides it: its regions are redacted in each output."""
        if not result.status.produced:
            return
        redacting = self.settings.pixels.redacts
        result.findings += overlay_findings(overlay, result.input, redacting)
        if result.status is not Status.WRITTEN:
            return
        if not redacting:  # --redact none: the text stays, and the output says so
            size = self.rewriter.edit(result.output, _declare_burned_in)
            if size is not None:
                result.output_size = size
            return
        boxes = [o.box for o in overlay]

        def fill(ds: Dataset) -> bool:
            note = fill_boxes(ds, boxes, MARGIN_FRACTION)
            if note:
                result.findings.append(
                    Finding(
                        "pixels.transfer-syntax",
                        Severity.INFO,
                        note,
                        file=result.input,
                        location="TransferSyntaxUID",
                        action="re-encoded",
                    )
                )
            return True

        size = self.rewriter.edit(result.output, fill)
        if size is not None:
            result.output_size = size

    def _why_text(self, found: SampledSeries, done: dict[str, FileResult]) -> str:
        hits = []
        for member in found.samples():
            result = done.get(member.item["input"])
            if result is not None:
                text = _carries_text(result)
            else:  # examined before (its worker, an earlier run): its findings say
                text = any(f["rule"] in TEXT_RULES for f in member.item["findings"])
            if text:
                hits.append(member.order)
        return why_text(found, hits)

    def _again(
        self, members: list[Member], why: str, here: bool = False, unverified: str = ""
    ) -> dict[str, FileResult]:
        """Process these inputs again with every image examined, for `why`;
        their records reach the journal when their series is judged.
        `here`: in this process's threads, with the detector it loaded while
        the batch ran (a few samples per series: starting workers would cost
        more than the samples); otherwise on the run's executor."""
        if not members:
            return {}
        pixels = self.settings.pixels.examining_all(why, unverified)
        settings = replace(self.settings, pixels=pixels)
        paths = [m.item["input"] for m in members]
        if here:
            if self._warming is not None:
                self._warming.join()
            if self._threads is None:
                self._threads = ThreadPoolExecutor(max_workers=max(1, self.settings.jobs))
            results = _here(paths, settings, self._threads)
        else:
            results = again(paths, settings)
        done = {}
        for result in results:
            result.geometry = result.pixel_layout = None
            done[result.input] = result
        return done

    def _restore(self, item: dict) -> FileResult:
        data = dict(item)
        data["changes"] = self._changes[item["changes"]]
        return FileResult.from_record(data)

    def close(self) -> None:
        if self._warming is not None:
            # Native code loading in a thread the interpreter abandons at
            # exit aborts the process (an interrupted run must exit cleanly).
            self._warming.join()
        self._end_threads()
        self.rewriter.close()
        self.sampler.close()

    def _end_threads(self) -> None:
        threads, self._threads = self._threads, None
        if threads is not None:
            threads.shutdown(wait=True, cancel_futures=True)


def _examined(decision: str) -> str | None:
    """How far a slice of a sampled series was examined: "" waiting,
    "sample" or "series" already; None when it is no such slice."""
    if decision.startswith(f"{Verdict.SERIES}:"):
        return ""
    if decision == f"{Verdict.EXAMINE}: {SAMPLE_REASON}":
        return "sample"
    if decision == f"{Verdict.EXAMINE}: {TEXT_REASON}":
        return "series"
    return None


def _warm(path: Path, settings: Settings) -> None:
    """What examining a sample loads once (the detector, the profile's
    standard tables for this SOP class), loaded while the batch still runs:
    this process mostly waits for its workers then. Run by in_background,
    which drops what fails: the samples load it themselves, and say why not."""
    from deid.pixels import detect

    state = FileState(path, FileResult(str(path), Status.FAILED))
    read_input(state, settings)
    decide(state, settings)
    detect.warm(fast=True)


def _here(paths: list[str], settings: Settings, threads: ThreadPoolExecutor) -> list[FileResult]:
    """process_file on each path over --jobs threads of this process (the
    workers are idle by now): the detector and OCR release the interpreter
    while they work (measured 1.65x on two cores), and the network is
    loaded once."""
    with warnings.catch_warnings():  # the threads' own catch_warnings nest inside this
        warnings.simplefilter("ignore")
        return list(threads.map(lambda p: process_file(Path(p), settings, True), paths))


def _record(result: FileResult) -> dict:
    """What the report needs of a held result, evidence kept (the report
    redacts it unless asked to show values)."""
    return {
        "input": result.input,
        "status": str(result.status),
        "output": result.output,
        "reason": result.reason,
        "size": result.size,
        "mtime_ns": result.mtime_ns,
        "output_size": result.output_size,
        "findings": [f.to_dict() for f in result.findings],
        "counts": result.counts,
        "summary": result.summary,
        "resumed": result.resumed,
    }


def _declare_burned_in(ds: Dataset) -> bool:
    if ds.get("BurnedInAnnotation") == "YES":
        return False
    ds.BurnedInAnnotation = "YES"
    return True


def _carries_text(result: FileResult) -> bool:
    return carries_text(result.findings)


def visual_features_edit(level: str, settings: Settings) -> Edit:
    """RecognizableVisualFeatures and option 113102 from the series result
    (deid/face/markers.py): NO where no face is left, the option claimed
    exactly there and withdrawn where it no longer holds."""
    chosen = Option.CLEAN_VISUAL_FEATURES in settings.profile.options
    return lambda ds: set_markers(ds, level, chosen)
