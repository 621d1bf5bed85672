"""Burned-in text: what the pixel check costs.

    python benchmarks/burned_in.py [--slices 200] [--work benchmarks/_work]

1. A 200-slice 512x512 CT series (real slice from pydicom's test files,
   shifted per slice) with identifying text burned into 3 slices:
   `deid run --pixels all` against `deid run --pixels off` on all cores;
   the difference per slice is the pixel check's cost (wall clock), and the
   check's own CPU time per slice is measured in-process on one core.
2. A 1024x1024 ultrasound-like RGB image and a 1024x1024 16-bit CR-like
   image with text: seconds per image for detect + read + redact + re-check,
   one core.
Targets (issue 3): <= 30 ms per CT slice on average; <= 0.5 s per 1024 px image.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import pydicom
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from deid.pixels.examine import examine  # noqa: E402
from deid.pixels.settings import PixelSettings  # noqa: E402
from deid.risk.identifiers import IdentifierSet  # noqa: E402

TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
KEY = "benchmark-key-0123456789abcdef"
warnings.filterwarnings("ignore")


def _dataset(pixels: np.ndarray, modality: str, series: str, index: int) -> pydicom.Dataset:
    ds = pydicom.Dataset()
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = (
        "1.2.840.10008.5.1.4.1.1.2" if modality == "CT" else "1.2.840.10008.5.1.4.1.1.7"
    )
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.SeriesInstanceUID = series
    ds.Modality = modality
    ds.PatientName = "BENCH^MARK"
    ds.PatientID = "MRN5550123"
    ds.PatientBirthDate = "19600101"
    ds.InstanceNumber = index + 1
    ds.Rows, ds.Columns = pixels.shape[:2]
    colour = pixels.ndim == 3
    ds.SamplesPerPixel = 3 if colour else 1
    ds.PhotometricInterpretation = "RGB" if colour else "MONOCHROME2"
    if colour:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = ds.BitsStored = pixels.dtype.itemsize * 8
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if pixels.dtype.kind == "i" else 0
    ds.PixelData = pixels.tobytes()
    return ds


def _text(img: np.ndarray, words: list[str], value: int | tuple) -> None:
    for i, word in enumerate(words):
        cv2.putText(img, word, (12, 30 + 26 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.6, value, 1)


def make_series(folder: Path, slices: int) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    base = pydicom.dcmread(TEST_FILES / "J2K_pixelrep_mismatch.dcm").pixel_array
    series = generate_uid()
    with_text = {slices // 4, slices // 2, 3 * slices // 4}
    for i in range(slices):
        img = np.roll(base, i % 17, axis=0).copy()
        if i in with_text:
            _text(img, ["BENCH, MARK", "MRN5550123", "01/01/1960"], int(base.max()))
        _dataset(img, "CT", series, i).save_as(folder / f"{i:04d}.dcm", enforce_file_format=True)


def timed_run(inputs: Path, out: Path, pixels: str) -> float:
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "DEID_KEY": KEY}
    deid = str(Path(sys.executable).parent / "deid")
    start = time.perf_counter()
    subprocess.run(
        [deid, "run", str(inputs), "-o", str(out), "-q", "--pixels", pixels],
        env=env,
        check=False,
        capture_output=True,
    )
    return time.perf_counter() - start


def per_file_cpu(paths: list[Path]) -> float:
    ids = IdentifierSet()
    ids.add("name", "BENCH^MARK", "PatientName")
    ids.add("id", "MRN5550123", "PatientID")
    settings = PixelSettings(mode="all")
    examine(pydicom.dcmread(paths[0]), ids, settings, "warm-up")
    start = time.process_time()
    for path in paths:
        examine(pydicom.dcmread(path), ids, settings, path.name)
    return (time.process_time() - start) / len(paths)


def large_images(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    us = (rng.normal(40, 25, (1024, 1024)).clip(0, 255)).astype(np.uint8)
    us = cv2.GaussianBlur(us, (7, 7), 0)
    us = np.dstack([us, us, us])
    _text(
        us,
        ["BENCH, MARK  MRN5550123", "01/01/1960  General Hospital", "C5-1  Gn 60  28Hz"],
        (230, 230, 230),
    )
    cr = cv2.resize(
        pydicom.dcmread(TEST_FILES / "J2K_pixelrep_mismatch.dcm").pixel_array, (1024, 1024)
    )
    _text(cr, ["BENCH, MARK", "MRN5550123 PORTABLE AP"], int(cr.max()))
    paths = []
    for name, img, modality in (("us.dcm", us, "US"), ("cr.dcm", cr, "CR")):
        _dataset(img, modality, generate_uid(), 0).save_as(folder / name, enforce_file_format=True)
        paths.append(folder / name)
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=200)
    parser.add_argument("--work", type=Path, default=HERE / "_work")
    args = parser.parse_args()
    series = args.work / "ct-series"
    make_series(series, args.slices)
    off = min(timed_run(series, args.work / "out-off", "off") for _ in range(2))
    on = min(timed_run(series, args.work / "out-all", "all") for _ in range(2))
    cpu = per_file_cpu(sorted(series.glob("*.dcm"))[:40])
    cores = len(os.sched_getaffinity(0))
    print(f"CT series, {args.slices} slices x 512x512, text in 3, {cores} cores")
    print(f"  deid run --pixels off : {off:6.2f} s  ({off / args.slices * 1000:5.1f} ms/slice)")
    print(f"  deid run --pixels all : {on:6.2f} s  ({on / args.slices * 1000:5.1f} ms/slice)")
    print(
        f"  pixel check, wall     : {(on - off) / args.slices * 1000:5.1f} ms/slice (target <= 30)"
    )
    print(f"  pixel check, CPU      : {cpu * 1000:5.1f} ms/slice on one core")
    for path in large_images(args.work / "large"):
        ds = pydicom.dcmread(path)
        ids = IdentifierSet()
        ids.add("name", "BENCH^MARK", "PatientName")
        settings = PixelSettings(mode="all")
        examine(ds, ids, settings, "warm-up")
        start = time.perf_counter()
        repeats = 3
        for _ in range(repeats):
            outcome = examine(pydicom.dcmread(path), ids, settings, path.name)
        took = (time.perf_counter() - start) / repeats
        print(
            f"{path.stem.upper()} 1024x1024: {took:5.2f} s/image, {outcome.regions_redacted} "
            f"regions redacted (target <= 0.5 s)"
        )


if __name__ == "__main__":
    main()
