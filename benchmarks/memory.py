"""Peak memory of `deid scan` and `deid run` as the batch grows.

    python benchmarks/memory.py [--sizes 1000 10000 100000] [--work benchmarks/_work]

Memory must not follow the batch. This writes N small identified CT files
(8x8 pixels, so disk and time go to the per-file work, not to pixel bytes;
1000 files per folder, 400 per patient, a dozen findings each), then runs
`deid scan --report-dir` and `deid run` over each size and prints the peak
RSS of the largest process, files/s and the report sizes on disk.
Files are made by patching fixed-width fields of one template, so even
10^6 of them take minutes to write.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

HERE = Path(__file__).resolve().parent
PEAK = (
    "import resource, subprocess, sys\n"
    "code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)
# Fixed-width placeholders patched per file (same length, so no offsets move).
UID = "1.2.826.0.1.3680043.10.999.1{:012d}"
MRN = "MRN{:09d}"


def template() -> bytes:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = UID.format(0)
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = UID.format(0)
    ds.StudyInstanceUID = UID.format(1)
    ds.SeriesInstanceUID = UID.format(2)
    ds.Modality = "CT"
    ds.PatientName = "MEMORY^PATIENT"
    ds.PatientID = MRN.format(0)
    ds.PatientBirthDate, ds.StudyDate, ds.StudyTime = "19620704", "20240102", "101500"
    ds.AccessionNumber = MRN.format(0)
    ds.InstitutionName = "Benchmark General Hospital"
    ds.InstitutionAddress = "1 Main Street, Springfield"
    ds.ReferringPhysicianName = "HOUSE^GREGORY"
    ds.StudyDescription = "CT HEAD for MEMORY^PATIENT"
    block = ds.private_block(0x0011, "BENCH 1.0", create=True)
    block.add_new(0x01, "LO", MRN.format(0))
    ds.Rows = ds.Columns = 8
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = np.arange(64, dtype=np.uint16).tobytes()
    from io import BytesIO

    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def make_corpus(folder: Path, count: int) -> None:
    marker = folder.parent / f".{folder.name}-complete"
    if marker.exists():
        return
    shutil.rmtree(folder, ignore_errors=True)
    data = template()
    sop, study, series, mrn = (
        UID.format(0).encode(),
        UID.format(1).encode(),
        UID.format(2).encode(),
        MRN.format(0).encode(),
    )
    for i in range(count):
        patient = i // 400
        sub = folder / f"{i // 1000:05d}"
        if i % 1000 == 0:
            sub.mkdir(parents=True)
        body = (
            data.replace(sop, UID.format(10**9 + i).encode())
            .replace(study, UID.format(patient).encode())
            .replace(series, UID.format(5 * 10**8 + i // 200).encode())
            .replace(mrn, MRN.format(patient).encode())
        )
        (sub / f"{i:07d}.dcm").write_bytes(body)
    marker.write_text("ok")


def measure(cmd: list[str], env: dict[str, str]) -> tuple[float, int, int]:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", PEAK, *cmd], env=env, stderr=subprocess.PIPE, text=True
    )
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):  # 1: findings, expected on identified files
        sys.exit(f"{cmd[2:4]} failed ({proc.returncode}): {proc.stderr[-500:]}")
    return elapsed, int(proc.stderr.strip().splitlines()[-1]), proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--work", type=Path, default=HERE / "_work")
    parser.add_argument("--only", choices=["scan", "run"], help="one command only")
    args = parser.parse_args()
    env = dict(os.environ, DEID_KEY="benchmark-key-0123456789")
    py = [sys.executable, "-m", "deid.cli"]
    print(
        f"{'command':<10} {'files':>9} {'seconds':>8} {'files/s':>8} {'peak RSS MB':>12} "
        f"{'report MB':>10}"
    )
    for size in args.sizes:
        corpus = args.work / f"memory-{size}"
        make_corpus(corpus, size)
        out = args.work / "memory-out"
        commands = {
            "scan": [*py, "scan", str(corpus), "--report-dir", str(out), "--format", "json"],
            "run": [*py, "run", str(corpus), "-o", str(out), "-q"],
        }
        for name, cmd in commands.items():
            if args.only and name != args.only:
                continue
            shutil.rmtree(out, ignore_errors=True)
            elapsed, rss, _ = measure(cmd, env)
            report = sum(p.stat().st_size for p in out.glob("report.*")) / 1e6
            print(
                f"{name:<10} {size:>9} {elapsed:8.1f} {size / elapsed:8.0f} {rss / 1024:12.0f} "
                f"{report:10.1f}",
                flush=True,
            )
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
