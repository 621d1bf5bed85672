"""findings.csv: one row per finding, for spreadsheets and pandas.

Written in chunks as the findings stream past, so a batch with millions of
findings needs no more memory than one chunk.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice
from pathlib import Path

import pandas as pd

from deid.dicom_io import atomic_writer
from deid.risk.findings import Finding

COLUMNS = ["fingerprint", "severity", "rule", "file", "location", "message", "action", "evidence"]
CHUNK = 2_000


def write(path: Path, findings: Iterable[Finding]) -> None:
    stream = iter(findings)
    with atomic_writer(path) as fh:
        first = True
        while True:
            rows = [
                {k: v for k, v in f.to_dict().items() if k in COLUMNS}
                for f in islice(stream, CHUNK)
            ]
            if rows or first:
                pd.DataFrame(rows, columns=COLUMNS).to_csv(fh, index=False, header=first)
            first = False
            if len(rows) < CHUNK:
                return
