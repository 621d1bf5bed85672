"""Face-reconstruction risk on head phantoms: levels, reasons, previews, markers."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest

from deid import rewrite
from deid.api import deidentify
from deid.errors import UsageError
from deid.face.collect import assess_datasets
from deid.face.thresholds import load
from fixtures.head_phantom import build
from tests.helpers import run_settings

KEY = {"DEID_KEY": "face-test-key-0123456789abcdef"}

EXPECTED = {
    "ct-head": "high",
    "mr-head": "high",
    "mr-sagittal": "high",
    "mr-flipped": "high",
    "mr-coronal": "high",
    "mr-oblique": "high",
    "mr-enhanced": "high",
    "mr-defaced": "low",
    "mr-brain-only": "low",
    "mr-top-only": "none",
    "ct-thick": "none",
}


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("phantoms")
    build(root)
    return root


def _headers(folder: Path) -> list[tuple[pydicom.Dataset, str]]:
    return [
        (pydicom.dcmread(p, stop_before_pixels=True), str(p)) for p in sorted(folder.glob("*.dcm"))
    ]


@pytest.mark.parametrize(("variant", "level"), sorted(EXPECTED.items()))
def test_levels(phantoms: Path, variant: str, level: str) -> None:
    results = assess_datasets(_headers(phantoms / variant), load())
    assert len(results) == 1
    result = results[0]
    assert result.level == level, result.reasons
    assert result.reasons and result.seconds >= 0


def test_reasons_say_why(phantoms: Path) -> None:
    thick = assess_datasets(_headers(phantoms / "ct-thick"), load())[0]
    assert "slice spacing 10.0 mm" in thick.reasons[0]
    top = assess_datasets(_headers(phantoms / "mr-top-only"), load())[0]
    assert "head-foot coverage" in top.reasons[0]
    high = assess_datasets(_headers(phantoms / "mr-head"), load())[0]
    assert high.measured["confirmed"] >= 1
    defaced = assess_datasets(_headers(phantoms / "mr-defaced"), load())[0]
    assert defaced.measured["zeroed_front"] > 0.5 > defaced.measured["zeroed_back"]


def test_non_head_volume_is_not_a_head_series(phantoms: Path) -> None:
    assert assess_datasets(_headers(phantoms / "ct-abdomen"), load()) == []


def test_head_series_with_broken_geometry_is_medium_not_silent(
    phantoms: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "broken"
    shutil.copytree(phantoms / "mr-head", folder)
    victim = sorted(folder.glob("*.dcm"))[10]
    ds = pydicom.dcmread(victim)
    del ds.ImagePositionPatient
    ds.save_as(victim)
    result = assess_datasets(_headers(folder), load())[0]
    assert result.level == "medium"
    assert "geometry" in result.reasons[0]
    # Too few images to hold a face: none, whatever the geometry says.
    for extra in sorted(folder.glob("*.dcm"))[15:]:
        extra.unlink()
    result = assess_datasets(_headers(folder), load())[0]
    assert result.level == "none" and "images" in result.reasons[0]


def test_thresholds_are_data(phantoms: Path, tmp_path: Path) -> None:
    strict = tmp_path / "strict.toml"
    strict.write_text("[gates]\nmin_slices = 500\n")
    result = assess_datasets(_headers(phantoms / "mr-head"), load(strict))[0]
    assert result.level == "none" and "slices" in result.reasons[0]
    bad = tmp_path / "bad.toml"
    bad.write_text("[gates]\nmin_slicez = 5\n")
    with pytest.raises(UsageError, match="min_slicez"):
        load(bad)


def test_run_reports_marks_and_keeps_previews_apart(
    phantoms: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rewritten: list[Path] = []
    write = rewrite.atomic_write
    monkeypatch.setattr(
        rewrite, "atomic_write", lambda p, d, **kw: (rewritten.append(p), write(p, d, **kw))
    )
    inputs = tmp_path / "in"
    for name in ("ct-head", "mr-defaced", "ct-abdomen"):
        shutil.copytree(phantoms / name, inputs / name)
    out, previews, reports = tmp_path / "out", tmp_path / "previews", tmp_path / "reports"
    settings = run_settings(
        inputs=[inputs],
        output=out,
        report_dir=reports,
        options=["clean-recognizable-visual-features"],
        face_previews=previews,
        jobs=2,
        environ=KEY,
    )
    outcome = deidentify([inputs], settings)
    report = json.loads((reports / "report.json").read_text())
    levels = sorted(e["level"] for e in report["face"]["series"])
    assert levels == ["high", "low"]
    assert outcome.exit_code == 1  # a high face risk fails the default --fail-on high
    assert any(f["rule"] == "face.reconstruction-risk" for f in report["dataset_findings"])
    # Series are named by their pseudonymised UID only.
    for entry in report["face"]["series"]:
        assert entry["series"].startswith("2.25.")
        assert Path(entry["preview"]).parent == previews
    assert not list(out.rglob("*.png"))
    assert len(list(previews.glob("*.png"))) == 2
    by_body: dict[str, set] = {}
    for path in out.rglob("*.dcm"):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        codes = tuple(i.CodeValue for i in ds.DeidentificationMethodCodeSequence)
        level = "113102" in codes
        key = f"{ds.Modality}:{ds.RecognizableVisualFeatures}:{level}"
        by_body.setdefault(str(ds.get("BodyPartExamined", "")), set()).add(key)
    assert by_body["ABDOMEN"] == {"CT:NO:True"}
    # HEAD: the CT (high) keeps YES without the option; the defaced MR is NO with it.
    assert by_body["HEAD"] == {"CT:YES:False", "MR:NO:True"}
    # Head slices are written YES at once; only the face-free series is written again.
    assert len(rewritten) == len(list((inputs / "mr-defaced").rglob("*.dcm"))) > 0


def test_previews_inside_the_output_are_refused(tmp_path: Path) -> None:
    deid = str(Path(sys.executable).parent / "deid")
    (tmp_path / "in").mkdir()
    out = tmp_path / "out"
    done = subprocess.run(
        [deid, "run", str(tmp_path / "in"), "-o", str(out), "--face-previews", str(out / "p")],
        capture_output=True,
        text=True,
        env={"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin", **KEY},
    )
    assert done.returncode == 2
    assert "face renders are face images" in done.stderr and "Traceback" not in done.stderr


def test_scan_rates_head_series_read_only(phantoms: Path) -> None:
    deid = str(Path(sys.executable).parent / "deid")
    target = phantoms / "mr-head"
    before = {p: p.read_bytes() for p in target.glob("*.dcm")}
    done = subprocess.run(
        [deid, "scan", str(target), "--format", "json", "--no-dataset-risk"],
        capture_output=True,
        text=True,
    )
    report = json.loads(done.stdout)
    assert [e["level"] for e in report["face"]["series"]] == ["high"]
    assert done.returncode == 1
    assert {p: p.read_bytes() for p in target.glob("*.dcm")} == before


def test_html_report_lists_series_and_links_previews_without_embedding(
    phantoms: Path, tmp_path: Path
) -> None:
    out, previews, reports = tmp_path / "out", tmp_path / "previews", tmp_path / "reports"
    settings = run_settings(
        inputs=[phantoms / "mr-head"],
        output=out,
        report_dir=reports,
        face_previews=previews,
        jobs=1,
        environ=KEY,
    )
    deidentify([phantoms / "mr-head"], settings)
    page = (reports / "report.html").read_text()
    assert "Face-reconstruction risk" in page and "high" in page
    assert f"file://{previews}" in page
    assert "data:image" not in page
