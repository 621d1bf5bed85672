"""What the data-set risk step costs `deid scan`, at 10^5 patients.

    python benchmarks/dataset_risk.py [--patients 100000] [--work benchmarks/_work] [--repeat 2]

Writes one small CT header per patient (8x8 pixels; files are made by
patching fixed-width fields of one template, so 10^5 take about a minute)
with quasi-identifiers that vary as in an archive: sex, age, weight and
size (written as 70 / 70.0), study month, scanner, and a one-off series
description for one patient in fifty (some 10^4 classes, about one patient
in thirty unique). Then times `deid scan --format json`
with the risk step (default quasi-identifiers, l-diversity of
BodyPartExamined, a population of 10x the patients: every estimator, the
advice) and with `--no-dataset-risk`, alternately, and prints the wall time
of each run and the overhead of the risk step.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import time
from io import BytesIO
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

HERE = Path(__file__).resolve().parent
UID = "1.2.826.0.1.3680043.10.998.1{:012d}"
FIELDS = {  # placeholder -> formatter of the same width
    b"MRN000000000": lambda p, r: f"MRN{p:09d}",
    b"077Y": lambda p, r: f"{r.randint(20, 89):03d}Y",
    b"070.0": lambda p, r: r.choice(["060.0", "070.0", "080.0", "   60", "   70", "   80"]),
    b"1.75": lambda p, r: r.choice(["1.60", "1.80"]),
    b"20240115": lambda p, r: f"2024{r.choice([1, 4, 7, 10]):02d}15",
    b"VENDOR-A": lambda p, r: r.choice(["VENDOR-A", "VENDOR-B", "VENDOR-C"]),
    b"SERIES-DESCRIPTION": lambda p, r: "AX T1 HEAD        " if p % 50 else f"RESEARCH {p:09d}",
    b"BODYPART": lambda p, r: r.choice(["HEAD    ", "CHEST   ", "ABDOMEN "]),
}


def template() -> bytes:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = UID.format(0)
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, UID.format(0)
    ds.StudyInstanceUID, ds.SeriesInstanceUID = UID.format(1), UID.format(2)
    ds.Modality = "CT"
    ds.PatientID = "MRN000000000"
    ds.PatientSex = "M"
    ds.PatientAge = "077Y"
    ds.PatientWeight = "070.0"
    ds.PatientSize = "1.75"
    ds.StudyDate = "20240115"
    ds.Manufacturer = "VENDOR-A"
    ds.SeriesDescription = "SERIES-DESCRIPTION"
    ds.BodyPartExamined = "BODYPART"
    ds.Rows = ds.Columns = 8
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = bytes(128)
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def make_corpus(folder: Path, patients: int) -> None:
    marker = folder.parent / f".{folder.name}-complete"
    if marker.exists():
        return
    data = template()
    rng = random.Random(22)
    uids = [UID.format(i).encode() for i in range(3)]
    for p in range(patients):
        body = data
        for i, uid in enumerate(uids):
            body = body.replace(uid, UID.format(10**9 * (i + 1) + p).encode())
        for placeholder, make in FIELDS.items():
            body = body.replace(placeholder, make(p, rng).encode())
        sex = b"\x10\x00\x40\x00CS\x02\x00"  # (0010,0040) CS, length 2
        body = body.replace(sex + b"M ", sex + rng.choice([b"M ", b"F "]))
        assert len(body) == len(data), "placeholders and values differ in width"
        sub = folder / f"{p // 1000:05d}"
        if p % 1000 == 0:
            sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{p:07d}.dcm").write_bytes(body)
    marker.write_text("ok")


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if proc.returncode not in (0, 1):
        sys.exit(f"scan failed ({proc.returncode}): {proc.stderr[-500:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--work", type=Path, default=HERE / "_work")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    corpus = args.work / f"risk-{args.patients}"
    started = time.perf_counter()
    make_corpus(corpus, args.patients)
    print(f"corpus: {args.patients} patients in {time.perf_counter() - started:.0f} s", flush=True)
    base = [sys.executable, "-m", "deid.cli", "scan", str(corpus), "--format", "json"]
    base += ["--pixels", "off", "--face", "off"]
    risk = ["--sensitive", "BodyPartExamined", "--population", str(10 * args.patients)]
    times: dict[str, list[float]] = {"with risk": [], "without": []}
    for _ in range(args.repeat):
        times["with risk"].append(timed(base + risk))
        times["without"].append(timed(base + ["--no-dataset-risk"]))
        print({k: [round(t, 1) for t in v] for k, v in times.items()}, flush=True)
    best = {k: min(v) for k, v in times.items()}
    overhead = best["with risk"] / best["without"] - 1
    print(
        f"deid scan, {args.patients} patients, {os.cpu_count()} cores: "
        f"{best['without']:.1f} s without the risk step, {best['with risk']:.1f} s with it "
        f"(+{overhead:.1%})"
    )


if __name__ == "__main__":
    main()
