"""report.json: the machine-readable record of a run.

Versioned, sorted by input path so the same run gives the same file, and
streamed: its size on disk grows with the batch, its memory does not.
Identifying values are redacted unless the user asked to see them.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TextIO

from deid import __version__
from deid.dicom_io import atomic_writer
from deid.face.report import PREVIEW_NOTE, SeriesResults
from deid.pipeline import (
    UNPROCESSED,
    FileResult,
    change_key,
    redacted,
    relabel,
)
from deid.pixels.policy import Verdict
from deid.report import thumbnails, views
from deid.report.streamed import Streamed, dump
from deid.results import Status
from deid.risk.findings import Finding
from deid.settings import Settings
from deid.spool import SortedSpool

SCHEMA_VERSION = "1.0"


class ReportBuilder:
    """Builds report.json from a stream of results in bounded memory.

    File entries go to a sorted spool on disk; only counters, the distinct
    change sets and the few worst entries report.html lists stay in memory,
    so a batch of millions of files costs no more than a small one.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        SortedSpool.clear_stale(settings.report_dir)
        self.spool = SortedSpool(settings.report_dir)
        self.statuses: Counter[str] = Counter()
        self.resumed = 0  # files an earlier run of the command finished
        self.pixels: Counter[str] = Counter()  # burned-in text: examined, sampled, not
        self.tally = views.Tally(settings.fail_on)
        self.change_sets: dict[str, list[dict[str, str]]] = {}
        self._set_ids: dict[tuple, str] = {}
        self.thumbnails = thumbnails.Store(settings.report_dir)
        self.worst = views.WorstFiles(on_drop=self.thumbnails.drop)
        self.reveal = settings.reveal_inputs
        self.face = SeriesResults(settings.report_dir)
        self.dataset: list[Finding] = []  # about the batch: deid.id_issuers, deid.study_patients

    def add_series(self, entry: dict[str, Any], finding: Finding) -> None:
        """One head series' face result and its finding."""
        self.face.add(entry, [finding])
        self.tally.add([finding])

    def add_dataset_finding(self, finding: Finding) -> None:
        self.dataset.append(finding)
        self.tally.add([finding])

    def add(self, r: FileResult) -> None:
        settings = self.settings
        label = r.input if self.reveal else settings.input_ref(r.input)
        findings = r.findings if settings.show_values else [redacted(f) for f in r.findings]
        key = change_key(r.changes)
        set_id = self._set_ids.get(key)
        if set_id is None:
            set_id = "changes-" + hashlib.sha256(repr(key).encode()).hexdigest()[:12]
            self._set_ids[key] = set_id
            self.change_sets[set_id] = r.changes
        entry = {
            "input": label,
            "status": r.status,
            "output": r.output if r.status.produced else "",
            "reason": r.reason,
            "actions": dict(sorted(r.counts.items())),
            "changes": set_id,
            "findings": [relabel(f, label).to_dict() for f in findings],
            "summary": r.summary,
        }
        if r.earlier:
            entry["earlier"] = r.earlier if self.reveal else settings.input_ref(r.earlier)
        self.spool.add(r.input, entry)
        self.statuses[r.status] += 1
        self.resumed += r.resumed
        verdict = Verdict.of(r.summary.get("pixels", ""))
        if verdict is not None and verdict is not Verdict.NO_IMAGE:
            self.pixels[str(verdict)] += 1
        self.tally.add(r.findings)
        self.tally.unprocessed = self.tally.unprocessed or r.status in UNPROCESSED
        self.tally.withheld = self.tally.withheld or r.status is Status.WITHHELD
        written = r.status is Status.WRITTEN
        self.worst.add(entry, lambda: self.thumbnails.put(r.thumbnails) if written else [])

    @property
    def exit_code(self) -> int:
        return self.tally.exit_code

    def header(self) -> dict[str, Any]:
        settings = self.settings
        profile = settings.profile
        previews = settings.face.previews
        return {
            "schema": f"deid-report/{SCHEMA_VERSION}",
            "tool": {"name": "deid", "version": __version__},
            "profile": {
                "name": profile.meta.name,
                "chain": list(profile.meta.chain),
                "standard": profile.meta.standard,
                "options": sorted(o.cli_name for o in profile.options),
                "date_clean": profile.meta.date_clean,
                "pseudonymised": profile.meta.pseudonymised,
            },
            "key": settings.key_source,
            "inputs": (
                "named by path"
                if self.reveal
                else "named by keyed reference (input-...): this report sits inside the shared "
                "output and input paths can name patients; use --report-dir outside it to see "
                "paths"
            ),
            # OUT is named only where input paths may show (report outside it).
            "output_root": str(settings.output) if self.reveal else None,
            "dry_run": settings.dry_run,
            "mapping_written": settings.mapping_dir is not None and not settings.dry_run,
            "thumbnails": settings.reporting.thumbnails and not settings.dry_run,
            "fail_on": str(settings.fail_on),
            "totals": {
                **self.tally.totals(self.statuses, self.spool.count),
                "resumed": self.resumed,
                "pixels": dict(sorted(self.pixels.items())),
            },
            "exit_code": self.exit_code,
            "change_sets": dict(sorted(self.change_sets.items())),
            "face": {
                "checked": self.settings.face.enabled,
                "previews": str(previews) if previews else None,
                "note": PREVIEW_NOTE,
                **self.face.section(),
            },
            "dataset_findings": views.dataset_findings(self.dataset, self.face),
        }

    def write(self, path: Path) -> None:
        """report.json; and the thumbnails folder holds just what the page shows."""
        with atomic_writer(path) as fh:
            stream(fh, self.header(), self.entries())
        self.thumbnails.sweep(self.worst.thumbnails())

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every file entry, in input order, read back from the spool."""
        return (entry for _, entry in self.spool)

    def close(self) -> None:
        self.spool.close()
        self.face.close()


def stream(fh: TextIO, header: dict[str, Any], entries: Iterable[dict[str, Any]]) -> None:
    """The header, then one file entry per line as they are read: the report
    of a batch of millions of files is never held in memory."""
    dump(fh, {**header, "files": Streamed(lambda: entries)})
    fh.write("\n")
