"""The floor of any pydicom-based tool: read every file and write it again.

    python benchmarks/pydicom_floor.py IN OUT [--jobs N]

No de-identification at all: each file is parsed whole by `pydicom.dcmread`
(pixel data included, as a tool that writes it must) and written by
`Dataset.save_as`, in N worker processes (default all cores, as deid runs).
`benchmarks/throughput.py` times it beside deid and dicognito in the same
run, so the table shows how much of deid's time pydicom's own parse and
encode already take, and whether a bar is under that floor.
"""

from __future__ import annotations

import argparse
import os
from multiprocessing import Pool
from pathlib import Path

import pydicom


def copy(pair: tuple[Path, Path]) -> None:
    source, target = pair
    target.parent.mkdir(parents=True, exist_ok=True)
    pydicom.dcmread(source).save_as(target)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("source", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()
    files = sorted(p for p in args.source.rglob("*") if p.is_file())
    pairs = [(p, args.output / p.relative_to(args.source)) for p in files]
    with Pool(args.jobs) as pool:
        for _ in pool.imap_unordered(copy, pairs, chunksize=16):
            pass


if __name__ == "__main__":
    main()
