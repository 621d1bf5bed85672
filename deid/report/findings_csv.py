"""findings.csv: one row per finding, for spreadsheets and pandas.

Written in chunks as the findings stream past, so a batch with millions of
findings needs no more memory than one chunk. File names and evidence come
from the data: a cell that a spreadsheet would read as a formula (`=`, `+`,
`-`, `@`, tab, CR) gets a leading apostrophe (OWASP's rule), and what a
terminal would act on (escape sequences, line breaks, bidirectional
overrides, bytes of a name that is not UTF-8) is shown as an escape
(`\\x1b`, `\\n`, `\\u202e`, `\\xff`), as on the terminal: the file is
read with `cat` as often as in a spreadsheet. report.json keeps the values
exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice
from pathlib import Path

from deid.dicom_io import atomic_writer
from deid.risk.findings import Finding
from deid.safetext import one_line, spreadsheet_cell

COLUMNS = ["fingerprint", "severity", "rule", "file", "location", "message", "action", "evidence"]
CHUNK = 2_000


def write(path: Path, findings: Iterable[Finding]) -> None:
    # pandas takes ~0.15 s to import: only a run that writes the file pays it
    # (a pre-commit scan of a few staged files writes none).
    import pandas as pd

    stream = iter(findings)
    with atomic_writer(path) as fh:
        first = True
        while True:
            rows = [_row(f) for f in islice(stream, CHUNK)]
            if rows or first:
                pd.DataFrame(rows, columns=COLUMNS).to_csv(fh, index=False, header=first)
            first = False
            if len(rows) < CHUNK:
                return


def _row(finding: Finding) -> dict[str, str]:
    data = finding.to_dict()
    return {k: spreadsheet_cell(one_line(str(data[k]))) for k in COLUMNS}
