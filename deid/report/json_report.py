"""report.json: the machine-readable record of a run.

Versioned, sorted by input path so the same run gives the same file.
Identifying values are redacted unless the user asked to see them.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from deid import __version__
from deid.dicom_io import atomic_write
from deid.pipeline import CHANGE_FIELDS, FileResult, _redacted, change_key, relabel
from deid.settings import Settings

SCHEMA_VERSION = "1.0"


def build(results: list[FileResult], settings: Settings, exit_code: int) -> dict[str, Any]:
    statuses = Counter(r.status for r in results)
    severities = Counter(str(f.severity) for r in results for f in r.findings)
    files = []
    # Files of one kind share one list of changes: written once, referenced.
    change_sets: dict[tuple, str] = {}
    reveal = settings.reveal_inputs
    for r in sorted(results, key=lambda r: r.input):
        label = r.input if reveal else settings.input_ref(r.input)
        findings = r.findings if settings.show_values else [_redacted(f) for f in r.findings]
        files.append(
            {
                "input": label,
                "status": r.status,
                "output": r.output,
                "reason": r.reason,
                "actions": dict(sorted(r.counts.items())),
                "changes": change_sets.setdefault(
                    change_key(r.changes), f"changes-{len(change_sets) + 1}"
                ),
                "findings": [relabel(f, label).to_dict() for f in findings],
                "summary": r.summary,
            }
        )
    profile = settings.profile
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
            if reveal
            else "named by keyed reference (input-...): this report sits inside the shared output "
            "and input paths can name patients; use --report-dir outside it to see paths"
        ),
        "dry_run": settings.dry_run,
        "mapping_written": settings.mapping_dir is not None and not settings.dry_run,
        "totals": {
            "files": len(results),
            "by_status": dict(sorted(statuses.items())),
            "findings_by_severity": dict(sorted(severities.items())),
        },
        "exit_code": exit_code,
        "change_sets": {
            ref: [dict(zip(CHANGE_FIELDS, change, strict=True)) for change in key]
            for key, ref in change_sets.items()
        },
        "files": files,
    }


def write(path: Path, report: dict[str, Any]) -> None:
    """One file entry per line: readable, diffable, and written by the C JSON
    encoder (indent= would switch to the pure-Python one, seconds per 10^4 files)."""
    head = {k: v for k, v in report.items() if k != "files"}
    lines = [json.dumps(head, ensure_ascii=False)[:-1] + ', "files": [']
    entries = [json.dumps(f, ensure_ascii=False) for f in report["files"]]
    lines.append(",\n".join(entries))
    lines.append("]}")
    atomic_write(path, ("\n".join(lines) + "\n").encode("utf-8"), durable=True)
