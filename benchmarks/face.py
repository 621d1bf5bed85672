"""Face-reconstruction check: seconds per series on one core.

    python benchmarks/face.py [--work benchmarks/_work]

Writes head-phantom MR series at 256x256x256 and 512x512x300 voxels
(fixtures/head_phantom.py) and times the whole series step - reading the
slices, skin mask, anterior render, cascades, depth confirmation, defacing
evidence - with deid's face assessment. Target (issue 4): <= 1.5 s for 256^3.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import pydicom

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from deid.face.collect import assess_datasets  # noqa: E402
from deid.face.thresholds import load  # noqa: E402
from fixtures.head_phantom import FOV, VARIANTS, write_series  # noqa: E402

SIZES = {"256^3": (256, 256), "512x512x300": (512, 300)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=HERE / "_work")
    args = parser.parse_args()
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    base = next(v for v in VARIANTS if v.name == "mr-head")
    for label, (matrix, slices) in SIZES.items():
        variant = replace(
            base,
            name=f"bench-{matrix}",
            pixel_mm=FOV / matrix,
            slice_mm=FOV / slices,
        )
        folder = args.work / "face" / variant.name
        shutil.rmtree(folder, ignore_errors=True)
        write_series(folder.parent, variant)
        headers = [
            (pydicom.dcmread(p, stop_before_pixels=True), str(p))
            for p in sorted(folder.glob("*.dcm"))
        ]
        first = headers[0][0]
        best = float("inf")
        for _ in range(2):
            start = time.perf_counter()
            result = assess_datasets(headers, load())[0]
            best = min(best, time.perf_counter() - start)
        print(
            f"{label:12s} {first.Rows}x{first.Columns}x{len(headers)}: {best:5.2f} s/series, "
            f"level {result.level} (target for 256^3: <= 1.5 s)"
        )


if __name__ == "__main__":
    main()
