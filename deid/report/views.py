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
    severity and by rule, how many reached --fail-on, whether an input could
    not be processed, and what a person must look at (each rule and severity
    at medium or above, with what to do). The exit code follows from these."""

    def __init__(self, fail_on: Severity) -> None:
        self.fail_on = fail_on
        self.severities: Counter[str] = Counter()
        self.rules: Counter[str] = Counter()
        self.at_fail_on = 0
        self.unprocessed = False
        self.withheld = False  # an output not written: never exit 0, whatever its findings
        self._review: dict[tuple[int, str], dict[str, Any]] = {}  # a few per rule at most

    def add(self, findings: Iterable[Finding], alarm: bool = True) -> None:
        """`alarm` False: counted, but gated elsewhere (the data-set risk)."""
        for f in findings:
            self.severities[str(f.severity)] += 1
            self.rules[f.rule] += 1
            if alarm and f.severity >= self.fail_on:
                self.at_fail_on += 1
            if f.severity >= Severity.MEDIUM:
                item = self._review.setdefault(
                    (-f.severity, f.rule),
                    {"rule": f.rule, "severity": str(f.severity), "count": 0, "action": f.action},
                )
                item["count"] += 1

    @property
    def alarm(self) -> bool:
        return self.at_fail_on > 0

    def to_review(self) -> list[dict[str, Any]]:
        """Rules with findings at medium or above, most severe first."""
        return [self._review[key] for key in sorted(self._review)]

    def totals(self, statuses: Counter[str], files: int) -> dict[str, Any]:
        """A report's `totals`."""
        return {
            "files": files,
            "by_status": dict(sorted(statuses.items())),
            "findings_by_severity": dict(sorted(self.severities.items())),
            "findings_by_rule": dict(sorted(self.rules.items())),
            "at_or_above_fail_on": self.at_fail_on,
            "to_review": self.to_review(),
        }

    @property
    def exit_code(self) -> int:
        """3: an input could not be processed; 1: a finding at --fail-on or
        above, or an output withheld (a PDF deid cannot check under --pixels
        off left its output missing with exit code 0)."""
        return 3 if self.unprocessed else 1 if self.alarm or self.withheld else 0


# Statuses a person must act on, whatever the findings.
ATTENTION = frozenset({"failed", "not-dicom", "withheld"})


class WorstFiles:
    """The entries report.html lists: files not processed or withheld first,
    then by high and medium findings, then files with redactions, then by
    findings, then by name; a small batch is listed whole. Kept as compact
    JSON (a parsed entry costs several times its text), at most twice
    HTML_FILES of them, each with its thumbnails' references; those of an
    entry that drops out are handed to `on_drop` (to remove the pictures)."""

    def __init__(self, on_drop: Callable[[list[dict[str, Any]]], None] | None = None) -> None:
        def dropped(item: tuple[str, list[dict[str, Any]]]) -> None:
            if on_drop is not None and item[1]:
                on_drop(item[1])

        self._top: TopN[tuple[str, list[dict[str, Any]]]] = TopN(HTML_FILES, dropped)

    @staticmethod
    def rank(entry: dict[str, Any]) -> tuple:
        findings = entry["findings"]
        counts = Counter(f["severity"] for f in findings)
        if entry["status"] in ATTENTION:
            tier = 0
        elif counts["high"] or counts["medium"]:
            tier = 1
        elif any(f["action"] == "redacted" for f in findings):
            tier = 2
        else:
            tier = 3 if findings else 4
        return (tier, -counts["high"], -counts["medium"], -len(findings), entry["input"])

    def add(
        self,
        entry: dict[str, Any],
        thumbnails: Callable[[], list[dict[str, Any]]] | None = None,
    ) -> None:
        """`thumbnails` makes the entry's pictures: called only if it is kept."""
        rank = self.rank(entry)
        if not self._top.admits(rank):
            self._top.skip()
            return
        refs = thumbnails() if thumbnails is not None else []
        self._top.add(rank, (json.dumps({**entry, "thumbnails": refs}, ensure_ascii=False), refs))

    @property
    def seen(self) -> int:
        return self._top.seen

    def entries(self) -> list[dict[str, Any]]:
        return [json.loads(text) for text, _ in self._top.items()]

    def thumbnails(self) -> set[str]:
        """The `src` of every thumbnail the page will show."""
        return {ref["src"] for _, refs in self._top.items() for ref in refs}


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
