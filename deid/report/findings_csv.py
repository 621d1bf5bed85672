"""findings.csv: one row per finding, for spreadsheets and pandas."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from deid.dicom_io import atomic_write
from deid.risk.findings import Finding

COLUMNS = ["fingerprint", "severity", "rule", "file", "location", "message", "action", "evidence"]


def write(path: Path, findings: Iterable[Finding]) -> None:
    rows = [{k: v for k, v in f.to_dict().items() if k in COLUMNS} for f in findings]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    atomic_write(path, frame.to_csv(index=False).encode("utf-8"), durable=True)
