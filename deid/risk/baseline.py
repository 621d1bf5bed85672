"""Baselines: findings a team has accepted, by fingerprint, so CI fails only
on new ones (detect-secrets' shape). The file holds fingerprints and rule
ids, never the identifying values themselves."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from deid.dicom_io import atomic_write
from deid.errors import UsageError
from deid.risk.findings import Finding

FORMAT = "deid-baseline/1"


@dataclass(frozen=True)
class Baseline:
    fingerprints: frozenset[str]

    def accepts(self, finding: Finding) -> bool:
        return finding.fingerprint in self.fingerprints

    @classmethod
    def load(cls, path: Path) -> Baseline:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise UsageError(f"cannot read baseline {path}: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path}:{exc.lineno}: baseline is not valid JSON") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise UsageError(f"{path}: not a deid baseline (format {FORMAT} expected)")
        return cls(frozenset(entry["fingerprint"] for entry in data.get("findings", [])))


def write(path: Path, findings: Iterable[Finding]) -> int:
    entries = sorted(
        {
            f.fingerprint: {
                "fingerprint": f.fingerprint,
                "rule": f.rule,
                "file": f.file,
                "location": f.location,
            }
            for f in findings
        }.values(),
        key=lambda e: (e["file"], e["location"], e["rule"]),
    )
    data = {"format": FORMAT, "findings": entries}
    atomic_write(path, (json.dumps(data, indent=1) + "\n").encode("utf-8"), durable=True)
    return len(entries)
