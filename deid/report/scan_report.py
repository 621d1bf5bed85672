"""The scan's report.json: findings, per-file status and data-set risk."""

from __future__ import annotations

from collections import Counter
from typing import Any

from deid import __version__
from deid.face.report import PREVIEW_NOTE
from deid.pipeline import redacted
from deid.risk.findings import Finding
from deid.scan import ScanOutcome, ScanSettings

SCHEMA_VERSION = "1.0"


def shown(findings: list[Finding], settings: ScanSettings) -> list[Finding]:
    """Evidence is identifying: redacted unless the user asked to see it."""
    return findings if settings.show_values else [redacted(f) for f in findings]


def build(outcome: ScanOutcome, settings: ScanSettings) -> dict[str, Any]:
    findings = shown(outcome.findings, settings)
    by_file: dict[str, list[dict[str, Any]]] = {}
    for f in findings:
        by_file.setdefault(f.file, []).append(f.to_dict())
    return {
        "schema": f"deid-scan/{SCHEMA_VERSION}",
        "tool": {"name": "deid", "version": __version__},
        "profile": settings.profile.meta.name,
        "fail_on": str(settings.fail_on),
        "exit_code": outcome.exit_code,
        "totals": {
            "files": outcome.files,
            "by_status": dict(sorted(outcome.statuses.items())),
            "findings_by_severity": dict(
                sorted(Counter(str(f.severity) for f in findings).items())
            ),
            "findings_by_rule": dict(sorted(Counter(f.rule for f in findings).items())),
            "baselined": outcome.baselined,
        },
        "dataset_risk": outcome.risk.to_dict(),
        "face": {"checked": settings.face, "note": PREVIEW_NOTE, "series": outcome.face},
        "files": [
            {
                "input": r.input,
                "status": r.status,
                "reason": r.reason,
                "findings": by_file.get(r.input, []),
            }
            for r in outcome.results
        ],
        "dataset_findings": by_file.get("", []),
    }
