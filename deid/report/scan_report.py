"""The scan's report.json: findings, per-file status and data-set risk.

Same streamed shape as the run's report: a header, then one entry per file
with findings or problems, read back from the scan's spool.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TextIO

from deid import __version__
from deid.dicom_io import atomic_writer
from deid.face.report import PREVIEW_NOTE
from deid.report import views
from deid.report.json_report import stream
from deid.scan import ScanOutcome, ScanSettings

# 2.0: data-set risk with exact classes (structured values), population
# uniqueness, journalist risk (null without a population), l-diversity,
# class sizes, contributions and advice; its findings have their own gate.
SCHEMA_VERSION = "2.0"
TITLE = "deid scan report"


def header(outcome: ScanOutcome, settings: ScanSettings) -> dict[str, Any]:
    """report.json without its file entries."""
    return {
        "schema": f"deid-scan/{SCHEMA_VERSION}",
        "tool": {"name": "deid", "version": __version__},
        "profile": settings.profile.meta.name,
        "fail_on": str(settings.fail_on),
        "exit_code": outcome.exit_code,
        "totals": {
            **outcome.tally.totals(outcome.statuses, outcome.files),
            "baselined": outcome.baselined,
            "pixels": dict(sorted(outcome.pixels.items())),
        },
        "dataset_risk": outcome.risk.to_dict() if outcome.risk else None,
        "dataset_gate": {
            "max_risk": settings.risk.max_risk,
            "fail_on_dataset": settings.risk.fail_on_dataset,
            "failed": outcome.dataset_gate,
        },
        "face": {
            "checked": settings.face.enabled,
            "note": PREVIEW_NOTE,
            **outcome.face.section(),
        },
        "dataset_findings": views.dataset_findings(outcome.dataset_findings, outcome.face),
    }


def write(fh: TextIO, outcome: ScanOutcome, settings: ScanSettings) -> None:
    stream(fh, header(outcome, settings), outcome.entries())


def write_files(folder: Path, outcome: ScanOutcome, settings: ScanSettings) -> None:
    """report.json, findings.csv, report.sarif and report.html in `folder`."""
    with atomic_writer(folder / "report.json") as fh:
        write(fh, outcome, settings)
    views.write(folder, header(outcome, settings), outcome.entries, outcome.worst, TITLE)
