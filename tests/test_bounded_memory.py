"""Memory does not follow the batch: scanning or de-identifying five times
as many identified files (every one full of findings) costs no more memory,
reports included. Chunk and page sizes are shrunk so small batches show
what millions of files would."""

from __future__ import annotations

import json
import shutil
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from deid import spool
from deid.api import build_scan_settings, build_settings, deidentify, scan
from deid.report import findings_csv, scan_report, views


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spool, "CHUNK", 40)
    monkeypatch.setattr(findings_csv, "CHUNK", 100)
    monkeypatch.setattr(views, "HTML_FILES", 10)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small identified file: names, IDs, dates, an address and a private
    block, so every file yields a dozen findings."""
    ds = Dataset()
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality = "CT"
    ds.PatientName, ds.PatientID = "QUIXOTE^ALONSO", "MRN4821337"
    ds.PatientBirthDate, ds.StudyDate, ds.AccessionNumber = "19470315", "20240102", "ACC99812"
    ds.PatientAddress = "12 Calle Mayor, Toledo"
    ds.ReferringPhysicianName, ds.InstitutionName = "PANZA^SANCHO", "La Mancha General"
    block = ds.private_block(0x0011, "ACME 1.0", create=True)
    for i in range(6):
        block.add_new(i, "LO", f"QUIXOTE note {i}")
    path = tmp_path_factory.mktemp("memory") / "source.dcm"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)
    return path


def copies(source: Path, folder: Path, count: int) -> Path:
    folder.mkdir(parents=True)
    for i in range(count):
        shutil.copyfile(source, folder / f"{i:05d}.dcm")
    return folder


def peak(work: Callable[[], None]) -> int:
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def scan_to(folder: Path, report: Path) -> None:
    settings = build_scan_settings(jobs=1, pixels="off", face="off", dataset_risk=False)
    with scan([folder], settings, workdir=report) as outcome:
        scan_report.write_files(report, outcome, settings)


def test_scan_memory_is_flat(source: Path, tmp_path: Path) -> None:
    small, large = copies(source, tmp_path / "a", 60), copies(source, tmp_path / "b", 300)
    scan_to(large, tmp_path / "warm")  # imports, caches, interned-name table: out of the measure
    few = peak(lambda: scan_to(small, tmp_path / "r1"))
    many = peak(lambda: scan_to(large, tmp_path / "r2"))
    assert many < few * 1.3, f"peak {many} B for 300 files vs {few} B for 60"
    report = json.loads((tmp_path / "r2" / "report.json").read_text())
    per_file = len(report["files"][0]["findings"])
    assert len(report["files"]) == 300 and per_file >= 10
    rows = (tmp_path / "r2" / "findings.csv").read_text().count("\n")
    assert rows >= 300 * per_file + 1  # every finding is on disk, not just the shown ones
    page = (tmp_path / "r2" / "report.html").read_text()
    assert page.count("<details>") == 10 and "290 more are in report.json" in page
    assert not list((tmp_path / "r2").glob(".deid-spool-*")), "spool removed"


def run_to(folder: Path, out: Path) -> None:
    settings = build_settings(
        inputs=[folder], output=out, jobs=1, random_key=True, pixels="off", face="off"
    )
    deidentify([folder], settings)


def test_run_memory_is_flat(source: Path, tmp_path: Path) -> None:
    """Half the files are truncated: each failure is an entry a reviewer must see."""
    cut = tmp_path / "cut.dcm"
    data = source.read_bytes()
    cut.write_bytes(data[: len(data) - 20])
    small, large = copies(source, tmp_path / "a", 60), copies(source, tmp_path / "b", 300)
    copies(cut, small / "cut", 60)
    copies(cut, large / "cut", 300)
    run_to(large, tmp_path / "warm")
    few = peak(lambda: run_to(small, tmp_path / "o1"))
    many = peak(lambda: run_to(large, tmp_path / "o2"))
    assert many < few * 1.3, f"peak {many} B for 600 files vs {few} B for 120"
    report = json.loads((tmp_path / "o2" / "report.json").read_text())
    assert report["totals"]["by_status"] == {"failed": 300, "written": 300}
    page = (tmp_path / "o2" / "report.html").read_text()
    assert page.count("<details>") == 10 and "290 more are in report.json" in page


def test_spool_merges_runs_and_returns_every_record_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spool, "FAN_IN", 3)
    keys = [f"file-{(i * 7919) % 1000:04d}" for i in range(1000)]
    with spool.SortedSpool(tmp_path, chunk=5) as records:
        for key in keys:
            records.add(key, {"input": key, "findings": [key] * 3})
        assert sorted(keys) == [key for key, _ in records]
        assert [r["input"] for _, r in records] == sorted(keys)  # and again
        runs = list(tmp_path.glob(".deid-spool-*/*"))
        assert len(runs) < 12, "200 chunks were merged into a few runs"
    assert not list(tmp_path.iterdir()), "closing removes the spool"
