"""The library API: what the CLI calls, and what other programs import.

from deid.api import build_settings, deidentify
settings = build_settings(inputs=[Path("in")], output=Path("out"))
outcome = deidentify([Path("in")], settings)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deid import pipeline
from deid.dicom_io import atomic_write
from deid.errors import OutputError
from deid.linkage import PATIENT_TABLE, UID_TABLE, LinkageTables
from deid.pipeline import FileResult
from deid.report import findings_csv, html, json_report, sarif
from deid.risk.findings import Finding
from deid.scan import ScanOutcome, ScanSettings, build_scan_settings, scan
from deid.settings import Settings, build_settings

REPORT_NAME = "report.json"


@dataclass(frozen=True)
class Outcome:
    report: dict[str, Any]  # report.json without the per-file entries (those are on disk)
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
    try:
        builder = json_report.ReportBuilder(settings)
    except OSError as exc:
        raise OutputError(
            f"cannot write the report in {settings.report_dir}: {exc.strerror or exc}"
        ) from None
    try:
        try:
            for result in pipeline.run(inputs, settings, on_result):
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
        path = settings.report_dir / REPORT_NAME
        try:
            builder.write(path)
            header = builder.header()
            write_views(
                settings.report_dir, {**header, "files": builder.notable}, title="deid run report"
            )
        except OSError as exc:
            raise OutputError(
                f"cannot write the report in {settings.report_dir}: {exc.strerror or exc}"
            ) from None
    finally:
        builder.close()
    return Outcome(header, path, builder.exit_code)


def write_views(folder: Path, report: dict[str, Any], title: str) -> None:
    """findings.csv, report.sarif and report.html: other views of the same
    findings, as they stand in the report (labels and redaction included)."""
    findings = [Finding.from_dict(f) for entry in report["files"] for f in entry["findings"]] + [
        Finding.from_dict(f) for f in report.get("dataset_findings", [])
    ]
    findings_csv.write(folder / "findings.csv", findings)
    data = json.dumps(sarif.build(findings), indent=1, ensure_ascii=False) + "\n"
    atomic_write(folder / "report.sarif", data.encode("utf-8"))
    atomic_write(folder / "report.html", html.render(report, title).encode("utf-8"))


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
