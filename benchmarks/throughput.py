"""Throughput: deid vs dicognito vs `cp` on a generated CT corpus.

    python benchmarks/throughput.py [--files 2000] [--heads 0.2] [--repeat 3] [--cold]
                                    [--work benchmarks/_work]
    python benchmarks/throughput.py --folder REAL_FILES [--repeat 3]

Generates N 512x512 16-bit CT slices in series of 200 with identifying
headers (pydicom's CT_small: 258 elements, 179 private), a fifth of the
series head CT phantoms with faces (--heads; fixtures/head_phantom.py), once,
reused on later runs; then times, in the same run and on the same files:
  cp -r            the I/O floor
  dicognito        python -m dicognito -o OUT IN (single process)
  pydicom r+w      benchmarks/pydicom_floor.py: every file read by pydicom and
                   written again by save_as, no de-identification, all
                   cores: what a tool that reads and writes through
                   pydicom pays before it changes anything
  deid run         --profile basic, all cores (and -j 1 for the per-core rate);
                   default checks (--pixels auto: each CT series sampled and
                   checked for a static overlay; the face check judging head
                   series from their images) and with both off (header-only)
With --folder, the files of a folder you name are used instead (real
archives: many elements, sequences, private blocks), unchanged.
Each tool writes to a fresh folder; the page cache is warm for all of them
(the corpus is read once before timing), or, with --cold (root, Linux), cold
for each of them: dirty pages are written and the cache dropped before every
timed run, as for an archive far larger than memory. Runs are interleaved and repeated
(--repeat, default 3); the best time of each tool is reported, in files/s and MB/s,
with its CPU time (user + system, all its processes; each shown too) and the
peak RSS of its largest process; then the ratios: deid header-only to `cp`
(wall), deid header-only CPU to dicognito's (all, and user only: the system
time of writing the same bytes is much the machine's), and default checks to
header-only. --settle S waits S seconds before each run, so no tool writes
into pages the run before it just freed (see --help).
Needs dicognito: pip install -e '.[bench]'.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from copy import deepcopy
from dataclasses import replace
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from fixtures.head_phantom import CT_PADDING, by_name, stored, volume  # noqa: E402

TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"


# The face benchmark's real-size head CT (200 axial 512x512 slices, 0.49 mm
# pixels, 1.25 mm apart, scanner padding, realistic noise).
HEAD_CT = replace(
    by_name("ct-head"), name="bench-ct", pixel_mm=250 / 512, slice_mm=1.25, fov_mm=250,
    depth_mm=250, padding=True,
)  # fmt: skip
PER_SERIES = 200
BODY_SLICE_MM = 1.25


def head_slices() -> tuple[np.ndarray, list, list]:
    vol, origins, orientation = volume(HEAD_CT, seed=7)
    return stored(vol, HEAD_CT), origins, orientation


def as_head(ds: pydicom.Dataset, head: tuple[np.ndarray, list, list], index: int) -> None:
    """A slice of the head CT phantom under the same identifying header."""
    pixels, origins, orientation = head
    ds.BodyPartExamined, ds.SeriesDescription = "HEAD", "CT HEAD W/O"
    ds.PixelRepresentation, ds.RescaleIntercept, ds.RescaleSlope = 1, -1024, 1
    ds.PixelPaddingValue = CT_PADDING
    ds.PixelSpacing = [HEAD_CT.pixel_mm, HEAD_CT.pixel_mm]
    ds.SliceThickness = HEAD_CT.slice_mm
    ds.ImageOrientationPatient = orientation
    ds.ImagePositionPatient = origins[index]
    ds.PixelData = np.ascontiguousarray(pixels[index]).tobytes()


def make_corpus(folder: Path, count: int, heads: int) -> None:
    """`count` CT slices in series of 200; every `heads`-th series (0: none)
    is a head CT whose face the default run checks."""
    # v2: body slices at distinct positions (all at CT_small's one position
    # before, which no real series is: the face check could not order them).
    marker = folder.parent / f".{folder.name}-complete-{count}-{heads}-v2"
    if marker.exists():
        return
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    template = pydicom.dcmread(TEST_FILES / "CT_small.dcm")
    rng = np.random.default_rng(7)
    base = rng.integers(0, 2000, size=(512, 512), dtype=np.uint16)
    study = generate_uid()
    per_series = PER_SERIES
    head = head_slices() if heads else None
    for i in range(count):
        ds = deepcopy(template)  # a shallow copy shares elements: head fields would stay
        ds.file_meta = template.file_meta.copy()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        patient = i // (per_series * 2)
        ds.PatientName = f"BENCH^PATIENT{patient}"
        ds.PatientID = f"MRN{100000 + patient}"
        ds.PatientBirthDate = "19700101"
        ds.AccessionNumber = f"ACC{patient:06d}"
        ds.InstitutionName = "Benchmark General Hospital"
        ds.ReferringPhysicianName = "HOUSE^GREGORY"
        ds.StudyDescription = f"CT CHEST {ds.PatientName}"
        ds.StudyInstanceUID = generate_uid(entropy_srcs=[study, str(patient)])
        ds.SeriesInstanceUID = generate_uid(
            entropy_srcs=[study, str(patient), str(i // per_series)]
        )
        ds.SOPInstanceUID = generate_uid(entropy_srcs=[study, str(i)])
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = i % per_series + 1
        ds.Rows = ds.Columns = 512
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        ds.PixelData = np.roll(base, i, axis=0).tobytes()
        ds.SliceThickness = BODY_SLICE_MM
        ds.ImagePositionPatient = [-170.0, -170.0, -BODY_SLICE_MM * (i % per_series)]
        if head is not None and (i // per_series) % heads == heads - 1:
            as_head(ds, head, i % per_series)
        ds.save_as(folder / f"slice{i:06d}.dcm", enforce_file_format=True)
    marker.write_text("ok")


def replicate(source: Path, folder: Path, copies: int) -> None:
    """Each DICOM file of source made a series of `copies` slices, as real
    images come: headers unchanged but for a study and series of its own
    (keyed on the file) and new instance UIDs, numbers and positions (one
    slice thickness apart along the slice normal, where the file has a
    position). A series of one file per copy made every output a folder of
    its own (two directories created per file, ~0.3 ms each here), which no
    archive costs."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        ds = pydicom.dcmread(path)
        # Keyed on the file: two files of one image (two encodings) share UIDs.
        for keyword in ("StudyInstanceUID", "SeriesInstanceUID"):
            setattr(ds, keyword, generate_uid(entropy_srcs=[keyword, str(path)]))
        origin, normal = _slice_axis(ds)
        for copy in range(copies):
            ds.SOPInstanceUID = generate_uid(entropy_srcs=[str(path), str(copy)])
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.InstanceNumber = copy + 1
            if origin is not None:
                ds.ImagePositionPatient = [round(float(v), 4) for v in origin + copy * normal]
            ds.save_as(folder / f"{path.stem}-{copy:04d}.dcm")


def _slice_axis(ds: pydicom.Dataset) -> tuple[np.ndarray | None, np.ndarray]:
    """The first slice's position and one slice's step along the normal."""
    try:
        origin = np.array([float(v) for v in ds.ImagePositionPatient])
        row, col = np.array([float(v) for v in ds.ImageOrientationPatient]).reshape(2, 3)
        step = float(ds.get("SliceThickness", 1) or 1)
    except (AttributeError, TypeError, ValueError):
        return None, np.zeros(3)
    return origin, np.cross(row, col) * step


# Runs a command and prints the peak RSS (KiB) of its largest process: the
# wrapper's children are only that command and what it starts.
PEAK = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(u.ru_maxrss, u.ru_utime, u.ru_stime, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def drop_caches() -> None:
    """Write dirty pages, then drop the page cache: the next tool reads from disk."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError as exc:
        sys.exit(f"--cold needs root on Linux to drop the page cache: {exc}")


def timed(
    label: str,
    cmd: list[str],
    out: Path,
    env: dict[str, str],
    cold: bool = False,
    settle: float = 0.0,
) -> tuple[float, int, float, float]:
    """Wall seconds, peak RSS (KiB), user and system CPU seconds of one command."""
    shutil.rmtree(out, ignore_errors=True)
    if cold:
        drop_caches()
    time.sleep(settle)
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", PEAK, *cmd],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    elapsed = time.perf_counter() - start
    # deid's exit codes 1 (findings, e.g. a withheld file) and 3 (unreadable
    # inputs) describe the data, not a failure of the run.
    if proc.returncode not in ((0, 1, 3) if label.startswith("deid") else (0,)):
        sys.exit(f"{label} failed ({proc.returncode}): {proc.stderr[-500:]}")
    rss, user, system = proc.stderr.strip().splitlines()[-1].split()
    return elapsed, int(rss), float(user), float(system)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--work", type=Path, default=HERE / "_work")
    parser.add_argument("--skip-dicognito", action="store_true")
    parser.add_argument("--repeat", type=int, default=3, help="best of N interleaved runs")
    parser.add_argument("--cold", action="store_true", help="drop the page cache before each run")
    parser.add_argument(
        "--settle", type=float, default=0.0,
        help="seconds to wait before each run: memory the previous run freed is then no "
        "longer at hand (on a VM that hands free pages back to its host, writing into "
        "fresh pages costs each tool system time that reusing just-freed ones does not)",
    )
    parser.add_argument("--folder", type=Path, help="time these files instead of generated ones")
    parser.add_argument(
        "--copies", type=int, default=1,
        help="with --folder: each file made a series of N slices (new instance UIDs and "
        "positions): a small set of real headers made into a batch of series",
    )
    parser.add_argument(
        "--heads", type=float, default=0.2,
        help="generated corpus: this fraction of the 200-slice series are head CT "
        "(default a fifth; 0 for none)",
    )
    parser.add_argument(
        "--header-only", action="store_true",
        help="time cp, dicognito and deid --pixels off --face off only (with --copies, "
        "the slices of a series share one image, which the default checks' static-overlay "
        "test takes for text: time default checks on real series)",
    )
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.folder is not None and args.copies > 1:
        corpus = args.work / f"copies-{args.copies}"
        replicate(args.folder, corpus, args.copies)
        files = sorted(p for p in corpus.rglob("*") if p.is_file())
    elif args.folder is not None:
        corpus = args.folder.resolve()
        files = sorted(p for p in corpus.rglob("*") if p.is_file())
    else:
        every = round(1 / args.heads) if args.heads > 0 else 0
        corpus = args.work / (f"ct-{args.files}-heads-{every}" if every else f"ct-{args.files}")
        make_corpus(corpus, args.files, every)
        files = sorted(corpus.glob("*.dcm"))
    size_mb = sum(f.stat().st_size for f in files) / 1e6
    if not args.cold:
        for f in files:  # warm the page cache for every contender alike
            f.read_bytes()
    env = dict(os.environ, DEID_KEY="benchmark-key-0123456789")
    py = sys.executable

    def deid(out: str, *extra: str) -> tuple[list[str], Path]:
        folder = args.work / out
        return [py, "-m", "deid.cli", "run", str(corpus), "-o", str(folder), "-q", *extra], folder

    runs = [
        ("cp -r", ["cp", "-r", str(corpus), str(args.work / "out-cp")], args.work / "out-cp"),
        (f"deid run -j {os.cpu_count()}", *deid("out-deid")),
        # header work only
        ("deid, no checks", *deid("out-deid0", "--pixels", "off", "--face", "off")),
        ("deid run -j 1", *deid("out-deid1", "-j", "1")),
    ]
    floor = HERE / "pydicom_floor.py"
    bare_copy = [py, str(floor), str(corpus), str(args.work / "out-pyd")]
    runs.insert(1, ("pydicom r+w", bare_copy, args.work / "out-pyd"))
    if args.header_only:
        runs = [run for run in runs if run[0] in ("cp -r", "pydicom r+w", "deid, no checks")]
    if not args.skip_dicognito:
        runs.insert(
            1,
            (
                "dicognito",
                [py, "-m", "dicognito", "-o", str(args.work / "out-dcg"), "--quiet", str(corpus)],
                args.work / "out-dcg",
            ),
        )
    # Interleaved repeats, best of each: this machine's timings are noisy and
    # the best run is the one least disturbed by other work.
    best: dict[str, float] = {}
    cpu: dict[str, tuple[float, float]] = {}  # (user, system) of the least CPU
    peak: dict[str, int] = {}
    for _ in range(args.repeat):
        for label, cmd, out in runs:
            elapsed, rss, user, system = timed(label, cmd, out, env, args.cold, args.settle)
            shutil.rmtree(out, ignore_errors=True)  # 20 000 slices are ~10 GB per copy
            best[label] = min(best.get(label, elapsed), elapsed)
            cpu[label] = min(cpu.get(label, (user, system)), (user, system), key=sum)
            peak[label] = max(peak.get(label, 0), rss)
    results = list(best.items())
    cache = "cold" if args.cold else "warm"
    print(
        f"{len(files)} files, {size_mb:.0f} MB, {os.cpu_count()} cores, best of {args.repeat}, "
        f"{cache} page cache"
    )
    print(
        f"{'tool':<16} {'seconds':>8} {'CPU s':>8} {'user s':>8} {'sys s':>8} {'files/s':>9} "
        f"{'MB/s':>8} {'peak RSS MB':>12}"
    )
    rates = {}
    for label, elapsed in results:
        rates[label] = len(files) / elapsed
        user, system = cpu[label]
        print(
            f"{label:<16} {elapsed:8.2f} {user + system:8.2f} {user:8.2f} {system:8.2f} "
            f"{rates[label]:9.1f} {size_mb / elapsed:8.1f} {peak[label] / 1024:12.0f}"
        )
    ratios(best, cpu)
    default, bare = rates.get(f"deid run -j {os.cpu_count()}"), rates.get("deid, no checks")
    if default and bare:
        print(f"pixel/face gates cost: {(bare / default - 1) * 100:+.1f}% time on text-free CT")
    if "dicognito" in rates and default:
        print(f"deid (default checks) / dicognito: {default / rates['dicognito']:.2f}x")
    for _, _, out in runs:
        shutil.rmtree(out, ignore_errors=True)


def ratios(wall: dict[str, float], cpu: dict[str, tuple[float, float]]) -> None:
    """The figures the README's targets are stated in, and the user-CPU ratio
    (the system time of writing the same bytes is largely the machine's)."""
    bare, cp, dcg = wall.get("deid, no checks"), wall.get("cp -r"), cpu.get("dicognito")
    default = wall.get(f"deid run -j {os.cpu_count()}")
    if bare and cp:
        print(f"deid header-only / cp -r (wall): {bare / cp:.2f}x")
    if dcg and "deid, no checks" in cpu:
        ours = cpu["deid, no checks"]
        print(f"deid header-only CPU / dicognito CPU: {sum(ours) / sum(dcg):.2f}x")
        print(f"deid header-only user CPU / dicognito user CPU: {ours[0] / dcg[0]:.2f}x")
    if bare and default:
        print(f"deid default checks / header-only (wall): {default / bare:.2f}x")
    floor = wall.get("pydicom r+w")
    if floor and cp and dcg:
        print(
            f"pydicom read+write alone (no de-identification): {floor / cp:.2f}x cp -r (wall), "
            f"{sum(cpu['pydicom r+w']) / sum(dcg):.2f}x dicognito CPU"
        )


if __name__ == "__main__":
    main()
