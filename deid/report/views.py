"""findings.csv, report.sarif and report.html: other views of a report.

Run and scan both keep their file entries in a sorted spool on disk; the
views read them back one at a time, so they cost no memory however large the
batch. report.html is for a person and lists the worst files only (the ones
a reviewer starts with), saying how many more report.json holds.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deid.dicom_io import atomic_write, atomic_writer
from deid.report import findings_csv, html, sarif
from deid.report.streamed import Streamed
from deid.risk.findings import Finding, Severity
from deid.spool import TopN

if TYPE_CHECKING:
    from deid.face.report import SeriesResults

HTML_FILES = 500

Entries = Callable[[], Iterable[dict[str, Any]]]


class Tally:
    """What a report's totals and exit code need from its findings: counts by
    severity and by rule, whether one reached --fail-on, whether an input
    could not be processed. The exit code follows from these."""

    def __init__(self, fail_on: Severity) -> None:
        self.fail_on = fail_on
        self.severities: Counter[str] = Counter()
        self.rules: Counter[str] = Counter()
        self.alarm = False
        self.unprocessed = False

    def add(self, findings: Iterable[Finding], alarm: bool = True) -> None:
        """`alarm` False: counted, but gated elsewhere (the data-set risk)."""
        for f in findings:
            self.severities[str(f.severity)] += 1
            self.rules[f.rule] += 1
            self.alarm = self.alarm or (alarm and f.severity >= self.fail_on)

    @property
    def exit_code(self) -> int:
        """3: an input could not be processed; 1: a finding at --fail-on or above."""
        return 3 if self.unprocessed else 1 if self.alarm else 0


class WorstFiles:
    """The entries report.html lists: most high findings first, then most
    findings, then by name. Kept as compact JSON (a parsed entry costs several
    times its text), at most twice HTML_FILES of them."""

    def __init__(self) -> None:
        self._top: TopN[str] = TopN(HTML_FILES)

    def add(self, entry: dict[str, Any]) -> None:
        high = sum(1 for f in entry["findings"] if f["severity"] == "high")
        rank = (-high, -len(entry["findings"]), entry["input"])
        self._top.add(rank, json.dumps(entry, ensure_ascii=False))

    @property
    def seen(self) -> int:
        return self._top.seen

    def entries(self) -> list[dict[str, Any]]:
        return [json.loads(text) for text in self._top.items()]


def dataset_findings(fixed: list[Finding], face: SeriesResults) -> Streamed:
    """Data-set findings of a report: the few of the data set as a whole,
    then one per head series (read back from disk)."""
    head = [f.to_dict() for f in fixed]
    return Streamed(lambda: chain(head, face.findings()))


def findings(entries: Iterable[dict[str, Any]], dataset: Iterable[dict]) -> Iterator[Finding]:
    for entry in entries:
        for f in entry["findings"]:
            yield Finding.from_dict(f)
    for f in dataset:
        yield Finding.from_dict(f)


def write(
    folder: Path,
    header: dict[str, Any],
    entries: Entries,
    worst: WorstFiles,
    title: str,
) -> None:
    """Findings as they stand in the report (labels and redaction included)."""
    dataset = header.get("dataset_findings", [])

    def every() -> Iterator[Finding]:
        return findings(entries(), dataset)

    findings_csv.write(folder / "findings.csv", every())
    with atomic_writer(folder / "report.sarif") as fh:
        sarif.write(fh, every)
    page = html.render(header, worst.entries(), title, notable=worst.seen)
    atomic_write(folder / "report.html", page.encode("utf-8"))
