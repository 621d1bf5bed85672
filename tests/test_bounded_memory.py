"""Memory does not follow the batch: scanning or de-identifying five times
as many identified files (every one full of findings) costs no more memory,
reports included. Chunk and page sizes are shrunk so small batches show
what millions of files would."""

from __future__ import annotations

import json
import shutil
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

from deid import spool
from deid.api import (
    Execution,
    PixelSettings,
    RiskChoice,
    build_scan_settings,
    deidentify,
    resolve_profile,
    scan,
)
from deid.face.collect import SeriesCollector
from deid.face.geometry import SliceGeometry
from deid.face.thresholds import load as load_face_thresholds
from deid.report import findings_csv, html, scan_report, views
from deid.risk import dataset, kanon
from deid.risk.dataset import RiskSettings
from deid.risk.quasi import QuasiIdentifier
from tests.helpers import run_settings


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spool, "CHUNK", 40)
    monkeypatch.setattr(findings_csv, "CHUNK", 100)
    monkeypatch.setattr(views, "HTML_FILES", 10)


@pytest.fixture(scope="module")
def template() -> Dataset:
    """A small identified head CT slice: names, IDs, dates, an address and a
    private block, so every file yields a dozen findings, and the geometry
    the face check collects."""
    ds = Dataset()
    ds.SOPClassUID = CTImageStorage
    ds.StudyInstanceUID = generate_uid()
    ds.Modality, ds.StudyDescription = "CT", "CT HEAD"
    ds.PatientName, ds.PatientID = "QUIXOTE^ALONSO", "MRN4821337"
    ds.PatientBirthDate, ds.StudyDate, ds.AccessionNumber = "19470315", "20240102", "ACC99812"
    ds.PatientAddress = "12 Calle Mayor, Toledo"
    ds.ReferringPhysicianName, ds.InstitutionName = "PANZA^SANCHO", "La Mancha General"
    block = ds.private_block(0x0011, "ACME 1.0", create=True)
    for i in range(6):
        block.add_new(i, "LO", f"QUIXOTE note {i}")
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [0.5, 0.5]
    ds.Rows = ds.Columns = 4
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = bytes(32)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def slices(template: Dataset, folder: Path, count: int, per_series: int = 20) -> Path:
    """`count` slices, 20 to a series: more files means more series too, as in
    an archive."""
    folder.mkdir(parents=True)
    series = ""
    for i in range(count):
        if i % per_series == 0:
            series = generate_uid()
        template.SOPInstanceUID = generate_uid()
        template.SeriesInstanceUID = series
        template.ImagePositionPatient = [0, 0, i % per_series]
        template.save_as(folder / f"{i:05d}.dcm", enforce_file_format=True)
    return folder


def copies(source: Path, folder: Path, count: int) -> Path:
    folder.mkdir(parents=True)
    for i in range(count):
        shutil.copyfile(source, folder / f"{i:05d}.dcm")
    return folder


def peak(work: Callable[[Path], None], out: Path) -> int:
    """The lower peak traced memory of two runs of `work`, each into a fresh
    folder (the second into `out`). One run alone can show a one-off of the
    test process rather than of the batch: pathlib interns every path part,
    and when Python's table of interned strings outgrows itself it is copied
    whole (~4 MB here once other tests have filled it)."""
    peaks = []
    for folder in (out.with_name(out.name + "-first"), out):
        tracemalloc.start()
        try:
            work(folder)
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    return min(peaks)


def scan_to(folder: Path, report: Path) -> None:
    settings = build_scan_settings(
        resolve_profile("basic"),
        RiskChoice(enabled=False),
        execution=Execution.build(1),
        pixels=PixelSettings.build("off"),
    )
    with scan([folder], settings, workdir=report) as outcome:
        scan_report.write_files(report, outcome, settings)


def test_scan_memory_is_flat(template: Dataset, tmp_path: Path) -> None:
    small, large = slices(template, tmp_path / "a", 60), slices(template, tmp_path / "b", 300)
    scan_to(large, tmp_path / "warm")  # imports, caches, interned-name table: out of the measure
    few = peak(lambda o: scan_to(small, o), tmp_path / "r1")
    many = peak(lambda o: scan_to(large, o), tmp_path / "r2")
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
    settings = run_settings(inputs=[folder], output=out, jobs=1, random_key=True, pixels="off")
    deidentify([folder], settings)


def test_run_memory_is_flat(
    template: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Half the files are truncated copies of one file: the first is a failure,
    the identical copies are skipped; each is an entry a reviewer must see."""
    monkeypatch.setattr(spool, "FAN_IN", 4)  # open runs' buffers are bounded by it, not the batch
    small, large = slices(template, tmp_path / "a", 60), slices(template, tmp_path / "b", 300)
    cut = tmp_path / "cut.dcm"
    data = (small / "00000.dcm").read_bytes()
    cut.write_bytes(data[: len(data) - 20])
    copies(cut, small / "cut", 60)
    copies(cut, large / "cut", 300)
    run_to(large, tmp_path / "warm")
    few = peak(lambda o: run_to(small, o), tmp_path / "o1")
    many = peak(lambda o: run_to(large, o), tmp_path / "o2")
    assert many < few * 1.3, f"peak {many} B for 600 files vs {few} B for 120"
    report = json.loads((tmp_path / "o2" / "report.json").read_text())
    assert report["totals"]["by_status"] == {"failed": 1, "skipped": 299, "written": 300}
    page = (tmp_path / "o2" / "report.html").read_text()
    # Every file may be listed (a small batch is, whole); failures come first.
    assert page.count('<tbody class="file failed"') == 1 and "590 more are in report.json" in page


@pytest.mark.parametrize("command", ["scan", "run"])
def test_face_results_wait_on_disk(
    template: Dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """One face result per head series, and an archive has 10^5 series: each
    result goes to disk as it is judged and is read back into the reports."""
    monkeypatch.setattr(html, "LISTED", 10)
    # Reading a spool back opens up to FAN_IN runs at once, each with its read
    # buffer: bounded, but at 40 records a run it would grow with the batch here.
    monkeypatch.setattr(spool, "FAN_IN", 4)
    work = scan_to if command == "scan" else run_to
    small = slices(template, tmp_path / "a", 50, per_series=1)
    large = slices(template, tmp_path / "b", 500, per_series=1)
    work(large, tmp_path / "warm")
    few = peak(lambda o: work(small, o), tmp_path / "r1")
    many = peak(lambda o: work(large, o), tmp_path / "r2")
    per_series = (many - few) / 450
    # ~4 KB a series when results, findings and the header stayed in memory.
    assert per_series < 1000, f"{per_series:.0f} B more per series ({few} B -> {many} B)"
    report = json.loads((tmp_path / "r2" / "report.json").read_text())
    series = report["face"]["series"]
    # Too small to judge (one slice each): listed, unjudged, claiming nothing.
    assert len(series) == 500 and report["face"]["levels"] == {"unjudged": 500}
    assert len({e["series"] for e in series}) == 500
    face = [f for f in report["dataset_findings"] if f["rule"] == "face.reconstruction-risk"]
    assert len(face) == 500
    sarif = json.loads((tmp_path / "r2" / "report.sarif").read_text())
    assert (
        sum(r["ruleId"] == "face.reconstruction-risk" for r in sarif["runs"][0]["results"]) == 500
    )
    page = (tmp_path / "r2" / "report.html").read_text()
    assert "490 more series are in report.json" in page


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


def test_head_slices_wait_on_disk_not_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An archive of head CT is millions of slices: the face check's per-slice
    geometry must not stay in memory until the series are judged."""
    monkeypatch.setattr(spool, "FAN_IN", 4)  # the list of chunk files stays short too

    def collect(count: int) -> tuple[int, list[tuple[str, list[tuple[str, str]]]]]:
        with SeriesCollector(load_face_thresholds(), tmp_path) as collector:
            tracemalloc.start()
            try:
                for i in range(count):
                    geometry = SliceGeometry(
                        f"/archive/in/{i:07d}.dcm", f"1.2.826.0.1.{i // 20}", "CT", "HEAD",
                        512, 512, 1, (1.0, 0.0, 0.0, 0.0, 1.0, 0.0), (0.0, 0.0, float(i % 20)),
                        (0.5, 0.5),
                    )  # fmt: skip
                    collector.add(geometry, f"series-{i // 20}", (geometry.path, f"{i}.dcm"))
                held = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            judged = [(r.series, outputs) for r, outputs in collector.assess()]
        return held, judged

    collect(2000)  # warm-up: imports and caches out of the measure
    few, _ = collect(200)
    many, judged = collect(2000)
    assert many < few * 1.3, f"peak {many} B for 2000 slices vs {few} B for 200"
    assert len(judged) == 100  # one result per series, each with its own outputs
    label, outputs = judged[0]
    number = int(label.removeprefix("series-"))
    assert sorted(outputs) == sorted(
        (f"/archive/in/{i:07d}.dcm", f"{i}.dcm") for i in range(20 * number, 20 * number + 20)
    )
    assert not list(tmp_path.iterdir()), "closing removes the spool"


def _rows(patients: int) -> Iterator[tuple[str, dict[str, str]]]:
    """Ten files a patient over two studies; sex and age classes repeat, one
    in seven patients has a one-off series description; the body part (the
    sensitive attribute) follows the patient number."""
    for p in range(patients):
        for f in range(10):
            yield (
                f"patient-{(p * 7919) % patients:06d}",  # not in sorted order
                {
                    "PatientSex": "FM"[p % 2],
                    "PatientAge": str(40 + p % 7),
                    "SeriesDescription": f"HEAD FOR {p}" if p % 7 == 0 else "AX T1",
                    "BodyPartExamined": "HEAD" if p % 3 else "CHEST",
                    "_study": f"1.2.{p}.{f % 2}",
                },
            )


def _in_memory(rows: Iterable[tuple[str, dict[str, str]]], names: tuple[str, ...]) -> dict:
    """The same records computed the obvious way, everything in dicts."""
    slots: dict[str, dict[str, set[str]]] = {}
    studies: dict[str, set[str]] = {}
    for patient, values in rows:
        slot = slots.setdefault(patient, {n: set() for n in names})
        for n in names:
            if values.get(n):
                slot[n].add(values[n])
        studies.setdefault(patient, set()).add(values["_study"])
    users = Counter(v for slot in slots.values() for v in slot["SeriesDescription"])
    return {
        patient: tuple(
            [
                (
                    n,
                    tuple(
                        (v,)
                        for v in sorted(slot[n])
                        if n != "SeriesDescription" or users[v] < 5
                    ),
                )
                for n in names
            ]
            + [("study_count", ((str(len(studies[patient])),),))]
        )
        for patient, slot in slots.items()
    }


def _settings() -> RiskSettings:
    return RiskSettings(
        quasi=(
            QuasiIdentifier("PatientSex", 0x00100040, "CS"),
            QuasiIdentifier("PatientAge", None, ""),
            QuasiIdentifier("SeriesDescription", 0x0008103E, "LO"),
        ),
        sensitive=QuasiIdentifier("BodyPartExamined", 0x00180015, "CS"),
        rare_only=("SeriesDescription",),
        threshold=5,
        population=50_000,
    )


def test_patients_wait_on_disk_not_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The data-set risk needs one record per patient, its classes, and a
    trial of every generalisation; an archive has 10^5 patients."""
    monkeypatch.setattr(spool, "FAN_IN", 4)
    monkeypatch.setattr(kanon, "RECENT", 50)
    names = ("PatientSex", "PatientAge", "SeriesDescription")

    def measured(patients: int) -> tuple[int, dataset.DatasetRisk]:
        rows = _rows(patients)
        tracemalloc.start()
        try:
            risk = dataset.assess(rows, _settings(), tmp_path)
            return tracemalloc.get_traced_memory()[1], risk
        finally:
            tracemalloc.stop()

    measured(5000)  # warm-up
    few, _ = measured(1000)
    many, risk = measured(5000)
    # Held in memory per patient: ~5 KB (sets of values) when records were
    # dicts. What is left here is the spool's few bytes per chunk file (with
    # chunks of 40 records) and one more merge level.
    per_patient = (many - few) / 4000
    assert per_patient < 100, f"{per_patient:.0f} B more per patient ({few} B -> {many} B)"

    expected = _in_memory(_rows(5000), names)
    records = kanon.patient_records(_rows(5000), names, ("SeriesDescription",), 5, tmp_path)
    assert dict(records) == expected
    sizes = Counter(expected.values())
    summary = risk.summary
    assert (summary.records, summary.classes, summary.k) == (5000, len(sizes), min(sizes.values()))
    below = sum(size for size in sizes.values() if size < 5)
    assert summary.below_k_share == pytest.approx(below / 5000, abs=1e-12)
    assert summary.prosecutor_avg == pytest.approx(
        sum(1 / sizes[r] for r in expected.values()) / 5000, abs=1e-12
    )
    assert dict(summary.histogram) == Counter(sizes.values())
    # Each one-off description (p % 7 == 0, so age 40) is a class of 1; the
    # others are sex x the six other ages.
    assert summary.classes == 2 * 6 + 5000 // 7 + 1
    # l-diversity: body parts per class, counted the obvious way.
    parts: dict[tuple, Counter] = {}
    for p in range(5000):
        record = expected[f"patient-{(p * 7919) % 5000:06d}"]
        parts.setdefault(record, Counter())["HEAD" if p % 3 else "CHEST"] += 1
    assert summary.l_diversity.distinct == min(len(c) for c in parts.values())
    # Advice: 5-year age bands, computed on the in-memory records.
    banded = Counter(
        tuple((n, tuple((f"{int(v[0]) // 5 * 5}-{int(v[0]) // 5 * 5 + 4}",) for v in vs))
              if n == "PatientAge" else (n, vs) for n, vs in record)
        for record in expected.values()
    )  # fmt: skip
    age = next(a for a in risk.attributes if a.attribute == "PatientAge")
    five = next(o for o in age.tried if o.change.phrase.endswith(" 5-year bands"))
    assert (five.effect.k, five.effect.classes) == (min(banded.values()), len(banded))
    assert risk.population.journalist is not None
    assert not list(tmp_path.iterdir()), "spools removed"
