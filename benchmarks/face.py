"""Face check: CPU seconds per series, defacing, and what the head gate costs.

    python benchmarks/face.py [--work benchmarks/_work] [--repeat 3] [--skip-run]

Writes real-size head phantoms with scanner-like noise (fixtures/head_phantom.py):
  MR  176 sagittal slices of 256x256 at 1 mm (a 3D T1), header naming no body part
  CT  200 axial slices of 512x512 at 0.49 mm, 1.25 mm apart, scanner padding
and times, on one core, the series step as `deid run` does it (per-file
summaries made from whole-file reads, then: cheap gates, the head gate,
the series read at the 1 mm render grid, surface, relief, defacing
evidence, cascades), and `--deface` (cut, rewrite, re-assessment) on a
copy of each series. Then the head gate's cost on body CT (two 200-slice 512x512 abdomen
series with a real CT header's 258 elements): the CPU of the per-file
step with and without the face check plus its series step, on one core
(--dry-run: no writes), and `deid run --pixels off` with and without
`--face off` (wall, all cores; interleaved, best of --repeat).
Targets (issues 19/20): assessment <= 1.0 s CPU (MR), <= 1.5 s (CT);
defacing <= 3 s; gate <= +5% on header-only throughput.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import pydicom  # noqa: E402

from deid.dicom_io import read  # noqa: E402
from deid.face.collect import SeriesCollector  # noqa: E402
from deid.face.deface import deface_series  # noqa: E402
from deid.face.geometry import SliceGeometry  # noqa: E402
from deid.face.thresholds import load  # noqa: E402
from fixtures.head_phantom import by_name, unnamed, write_series  # noqa: E402

HEADS = {
    "MR 176x256x256": replace(
        unnamed(by_name("mr-sagittal")),
        name="bench-mr", pixel_mm=1.0, slice_mm=1.0, fov_mm=256, depth_mm=176,
    ),
    "CT 200x512x512": replace(
        by_name("ct-head"),
        name="bench-ct", pixel_mm=250 / 512, slice_mm=1.25, fov_mm=250, depth_mm=250,
        padding=True,
    ),
}  # fmt: skip
TEMPLATE = Path(pydicom.__file__).parent / "data" / "test_files" / "CT_small.dcm"
BODY = replace(
    by_name("ct-abdomen"), name="bench-abdomen", pixel_mm=400 / 512, slice_mm=1.5,
    fov_mm=400, depth_mm=300,
)  # fmt: skip


def made(folder: Path, variant: object, seed: int = 1, headers: bool = False) -> Path:
    """The phantom once; later runs reuse it (the CT takes ~15 s to write)."""
    name = variant.name  # type: ignore[attr-defined]
    marker = folder.parent / f".{folder.name}-{name}-{seed}-{headers}-complete"
    if not marker.exists():
        shutil.rmtree(folder / variant.name, ignore_errors=True)  # type: ignore[attr-defined]
        write_series(folder, variant, seed)  # type: ignore[arg-type]
        if headers:
            real_headers(folder / name)
        marker.write_text("ok")
    return folder / variant.name  # type: ignore[attr-defined]


def real_headers(folder: Path) -> None:
    """Give each slice the elements of a real CT header (pydicom's CT_small:
    258 elements, 179 private) that the phantom lacks, so the header-only
    work the gate is compared with costs what it costs on real files."""
    template = pydicom.dcmread(TEMPLATE)
    keep = {e.tag for e in template if e.tag.group in (0x0008, 0x0010, 0x0018, 0x0020)}
    for path in sorted(folder.glob("*.dcm")):
        ds = pydicom.dcmread(path)
        for elem in template:
            if elem.tag not in ds and (elem.tag.is_private or elem.tag in keep):
                ds.add(elem)
        ds.save_as(path)


def summaries(folder: Path) -> list[SliceGeometry]:
    return [SliceGeometry.from_dataset(read(p), str(p)) for p in sorted(folder.glob("*.dcm"))]


def assess_cpu(geometry: list[SliceGeometry], repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        with SeriesCollector(load()) as collector:
            for g in geometry:
                collector.add(g, "bench", (g.path, Path(g.path).name))
            start = time.process_time()
            result, _ = next(collector.assess())
            best = min(best, time.process_time() - start)
    return best, result


def deface_cpu(source: Path, work: Path, repeat: int) -> tuple[float, dict]:
    best, after = float("inf"), {}
    for _ in range(repeat):
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(source, work)
        geometry = summaries(work)
        with SeriesCollector(load()) as collector:
            for g in geometry:
                collector.add(g, "bench", (g.path, Path(g.path).name))
            result, outputs = next(collector.assess())
        start = time.process_time()
        deface_series(result, outputs, work, load())
        best = min(best, time.process_time() - start)
        after = result.after
    return best, after


def gate_cpu(folder: Path, work: Path, repeat: int) -> tuple[float, float, float]:
    """CPU seconds (user + system) in one process: the per-file step of
    `deid run --pixels off` (read, scrub, write, verify) with the face check
    off, the same with it on, and the series step (spool, cheap gates, head
    gate) for every series."""
    from deid.api import build_settings
    from deid.pipeline import process_file

    files = sorted(folder.rglob("*.dcm"))
    best = {"off": float("inf"), "auto": float("inf"), "series": float("inf")}
    for _ in range(repeat):
        for face in ("off", "auto"):
            shutil.rmtree(work / "out", ignore_errors=True)
            settings = build_settings(
                inputs=[folder], output=work / "out", pixels="off", face=face,
                environ={"DEID_KEY": "benchmark-key-0123456789"},
            )  # fmt: skip
            start = time.process_time()
            results = [process_file(p, settings) for p in files]
            best[face] = min(best[face], time.process_time() - start)
    shutil.rmtree(work / "out", ignore_errors=True)
    for _ in range(repeat):
        start = time.process_time()
        with SeriesCollector(load()) as collector:
            for r in results:
                if r.geometry is not None:
                    collector.add(r.geometry, r.summary.get("series", ""), (r.input, r.output))
            levels = [result.level for result, _ in collector.assess()]
        best["series"] = min(best["series"], time.process_time() - start)
    assert levels and set(levels) == {"none"}, levels
    return best["off"], best["auto"], best["series"]


def gate_wall(folder: Path, work: Path, repeat: int) -> tuple[float, float]:
    env = dict(os.environ, DEID_KEY="benchmark-key-0123456789")
    base = [sys.executable, "-m", "deid.cli", "run", str(folder), "-q", "--pixels", "off"]
    times: dict[str, float] = {}
    for _ in range(repeat):
        for label, extra in (("off", ["--face", "off"]), ("on", [])):
            out = work / f"out-{label}"
            shutil.rmtree(out, ignore_errors=True)
            start = time.perf_counter()
            subprocess.run([*base, "-o", str(out), *extra], env=env, check=False)
            times[label] = min(times.get(label, float("inf")), time.perf_counter() - start)
            shutil.rmtree(out, ignore_errors=True)
    return times["off"], times["on"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=HERE / "_work")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-run", action="store_true", help="no deid run gate timing")
    args = parser.parse_args()
    root = args.work / "face"
    root.mkdir(parents=True, exist_ok=True)
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cores[0]})  # one core for the per-series timings
    for label, variant in HEADS.items():
        folder = made(root, variant)
        geometry = summaries(folder)
        for p in folder.glob("*.dcm"):
            p.read_bytes()  # warm page cache
        cpu, result = assess_cpu(geometry, args.repeat)
        gate = result.measured.get("gate", {})  # type: ignore[attr-defined]
        print(
            f"{label}: assessment {cpu:.2f} s CPU, level {result.level} "  # type: ignore[attr-defined]
            f"(gate head={gate.get('head')}, nose {result.measured.get('nose_mm')} mm)"  # type: ignore[attr-defined]
        )
        cpu, after = deface_cpu(folder, root / "deface-work", args.repeat)
        print(
            f"{label}: --deface {cpu:.2f} s CPU (rewrite + re-assessment), "
            f"{after.get('voxels_removed_share', 0):.1%} of voxels, "
            f"re-assessed {after.get('level_after')}"
        )
    shutil.rmtree(root / "deface-work", ignore_errors=True)
    os.sched_setaffinity(0, set(cores))
    if args.skip_run:
        return
    body = root / "body"
    for seed in (1, 2):
        made(body, replace(BODY, name=f"bench-abdomen-{seed}"), seed, headers=True)
    files = list(body.rglob("*.dcm"))
    for p in files:
        p.read_bytes()
    os.sched_setaffinity(0, {cores[0]})
    off, on, series = gate_cpu(body, root, args.repeat)
    os.sched_setaffinity(0, set(cores))
    print(
        f"body CT, {len(files)} slices 512x512 in 2 series, CPU on one core "
        f"(--pixels off): per-file step {1000 * off / len(files):.2f} ms/file with --face off, "
        f"{1000 * on / len(files):.2f} with the face check; series step {series:.3f} s; "
        f"gate cost {100 * ((on + series) / off - 1):+.1f}%"
    )
    off, on = gate_wall(body, root, args.repeat)
    print(
        f"body CT, deid run --pixels off, wall (all cores): {off:.2f} s with --face off, "
        f"{on:.2f} s with the face check ({100 * (on / off - 1):+.1f}%)"
    )


if __name__ == "__main__":
    main()
