"""Thumbnails of redacted areas: what they cost per redacted file.

    python benchmarks/thumbnails.py [--work benchmarks/_work]

Builds the labelled burned-in set (fixtures/burned_in.py: ultrasound,
secondary capture, CT and MR with names and dates burned in), runs deid's
pixel check on every file that has text (one core), and for each file it
redacted times the thumbnails (crop the redacted frames around each area,
render, encode PNG) against the pixel check itself. Prints milliseconds per
redacted file, the share of the pixel check, and the PNG bytes per file.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
import warnings
from pathlib import Path

import pydicom

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from deid.pixels.examine import examine  # noqa: E402
from deid.pixels.settings import PixelSettings  # noqa: E402
from deid.report import thumbnails  # noqa: E402
from deid.risk.identifiers import IdentifierSet  # noqa: E402
from fixtures.burned_in import build  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=HERE / "_work")
    args = parser.parse_args()
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    folder = args.work / "thumbnails"
    shutil.rmtree(folder, ignore_errors=True)
    build(folder)
    checks, pictures, sizes, counts = [], [], [], []
    for path in sorted((folder / "text").glob("*.dcm")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path)
            start = time.perf_counter()
            outcome = examine(ds, IdentifierSet(), PixelSettings(mode="all"), path.name)
            checked = time.perf_counter() - start
        if outcome.pixels is None:
            continue
        start = time.perf_counter()
        made = thumbnails.make(ds, outcome.pixels, outcome.masks, path.name)
        pictures.append(time.perf_counter() - start)
        checks.append(checked)
        sizes.append(sum(len(t.png) for t in made))
        counts.append(len(made))
    print(f"{len(pictures)} redacted files, {sum(counts)} thumbnails")
    print(
        f"thumbnails: {1000 * statistics.mean(pictures):.1f} ms per file "
        f"(max {1000 * max(pictures):.1f}); pixel check: {1000 * statistics.mean(checks):.0f} ms "
        f"per file; share {sum(pictures) / sum(checks):.1%}"
    )
    print(
        f"PNG bytes per file: mean {statistics.mean(sizes) / 1024:.1f} KiB, "
        f"max {max(sizes) / 1024:.1f} KiB (at most {thumbnails.PER_FILE} pictures of "
        f"{thumbnails.MAX_SIZE[0]}x{thumbnails.MAX_SIZE[1]} px)"
    )


if __name__ == "__main__":
    main()
