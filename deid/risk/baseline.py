"""Baselines: findings a team has accepted, by fingerprint, so CI fails only
on new ones (detect-secrets' shape). The file holds fingerprints and rule
ids, never the identifying values themselves."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

from deid.data_files import read_bounded
from deid.dicom_io import atomic_writer
from deid.errors import UsageError
from deid.risk.findings import Finding

FORMAT = "deid-baseline/3"
# Earlier formats' entries cannot be matched and are not guessed at.
OLD_FORMATS = {
    "deid-baseline/1": "its fingerprints named the profile and the path as typed",
    "deid-baseline/2": (
        "its fingerprints knew a file named on its own by its bare name, so it accepted "
        "another folder's file of that name"
    ),
}


# A fingerprint is ~60 bytes of JSON: millions of findings, and no device.
BASELINE_BYTES = 1 << 30


@dataclass(frozen=True)
class Baseline:
    fingerprints: frozenset[str]

    def accepts(self, finding: Finding) -> bool:
        return finding.fingerprint in self.fingerprints

    @classmethod
    def load(cls, path: Path) -> Baseline:
        try:
            data = json.loads(read_bounded(path, BASELINE_BYTES).decode("utf-8"))
        except OSError as exc:
            raise UsageError(f"cannot read baseline {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise UsageError(f"{path}: baseline is not UTF-8 JSON") from None
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}:{exc.lineno}: baseline is not valid JSON") from None
        except RecursionError:  # arrays nested thousands deep
            raise UsageError(f"{path}: not a deid baseline (values nested too deep)") from None
        old = data.get("format") if isinstance(data, dict) else None
        if isinstance(old, str) and old in OLD_FORMATS:
            raise UsageError(
                f"{path}: baseline format {old} is no longer read ({OLD_FORMATS[old]}): "
                "write it again with --write-baseline"
            )
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise UsageError(f"{path}: not a deid baseline (format {FORMAT} expected)")
        findings = data.get("findings", [])
        if not isinstance(findings, list) or not all(
            isinstance(f, dict) and isinstance(f.get("fingerprint"), str) for f in findings
        ):
            raise UsageError(f"{path}: baseline findings must be a list of {{fingerprint: ...}}")
        return cls(frozenset(entry["fingerprint"] for entry in findings))


def write(path: Path, findings: Iterable[Finding]) -> int:
    """Entries sorted by file, location and rule. Findings arrive grouped by
    file (as reports stream them), so only one file's findings are sorted
    at a time and the baseline of a huge scan is written in bounded memory."""
    count = 0
    with atomic_writer(path) as fh:
        fh.write(f'{{"format": {json.dumps(FORMAT)}, "findings": [\n')
        for _, group in groupby(findings, key=lambda f: f.file):
            unique = {f.fingerprint: f for f in group}.values()
            for f in sorted(unique, key=lambda f: (f.location, f.rule, f.fingerprint)):
                entry = {
                    "fingerprint": f.fingerprint,
                    "rule": f.rule,
                    "file": f.scope or f.file,
                    "location": f.location,
                }
                fh.write(("" if count == 0 else ",\n") + json.dumps(entry))
                count += 1
        fh.write("\n]}\n")
    return count
