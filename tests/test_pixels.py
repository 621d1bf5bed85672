"""Burned-in text: found on the labelled corpus, redacted, nothing else touched."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from deid.api import deidentify
from deid.errors import UsageError
from deid.pixels import frames
from deid.pixels.classify import load_allowlist
from deid.pixels.examine import MARGIN_FRACTION, MIN_MARGIN, examine
from deid.pixels.policy import Verdict, decide
from deid.pixels.regions import load_rules
from deid.pixels.settings import PixelSettings
from deid.risk.findings import Severity
from deid.risk.identifiers import IdentifierSet
from fixtures.burned_in import (
    PERSON,
    build,
    build_hard,
    build_mixed,
    score_file,
    text_series,
    write_images,
)
from tests.helpers import run_settings

warnings.filterwarnings("ignore", module="pydicom")


def person_identifiers() -> IdentifierSet:
    ids = IdentifierSet()
    ids.add("name", PERSON["PatientName"], "PatientName")
    for keyword in ("PatientID", "AccessionNumber"):
        ids.add("id", PERSON[keyword], keyword)
    for keyword in ("PatientBirthDate", "StudyDate"):
        ids.add("date", PERSON[keyword], keyword)
    ids.add("institution", PERSON["InstitutionName"], "InstitutionName")
    return ids


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("burned")
    build(root)
    return root


@pytest.fixture(scope="module")
def redacted(labelled: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One `deid run --pixels all` over the labelled set; inputs -> outputs."""
    out = tmp_path_factory.mktemp("out")
    reports = tmp_path_factory.mktemp("reports")
    settings = run_settings(
        inputs=[labelled / "text"],
        output=out,
        report_dir=reports,
        pixels="all",
        jobs=2,
        environ={"DEID_KEY": "pixel-test-key-0123456789"},
    )
    outcome = deidentify([labelled / "text"], settings)
    report = json.loads((reports / "report.json").read_text())
    files = {Path(e["input"]).name: e for e in report["files"]}
    return {"out": out, "files": files, "exit": outcome.exit_code}


def _decoded(path: Path) -> tuple[Dataset, np.ndarray]:
    ds = pydicom.dcmread(path)
    return ds, frames.decode(ds).frames


def _redaction_mask(entry: dict, shape: tuple[int, ...]) -> np.ndarray:
    mask = np.zeros(shape[:3], bool)
    for f in entry["findings"]:
        if f["rule"] == "pixels.burned-in-text" and f["action"] == "redacted":
            x, y, w, h = f["extra"]["box"]
            m = max(MIN_MARGIN, round(h * MARGIN_FRACTION))
            mask[f["extra"]["frame"], max(0, y - m) : y + h + m, max(0, x - m) : x + w + m] = True
    return mask


def test_phi_words_are_redacted_with_high_recall(labelled: Path, redacted: dict) -> None:
    labels = json.loads((labelled / "labels.json").read_text())
    covered = total = 0
    missed = []
    for name, words in labels.items():
        entry = redacted["files"][name]
        assert entry["status"] == "written", (name, entry.get("reason"))
        _, before = _decoded(labelled / "text" / name)
        _, after = _decoded(redacted["out"] / entry["output"])
        fill = after.min()
        for word in (w for w in words if w["kind"] == "phi"):
            x, y, w, h = word["box"]
            region = after[word["frame"], y : y + h, x : x + w]
            blacked = region == fill if region.ndim == 2 else (region == fill).all(-1)
            total += 1
            if blacked.mean() >= 0.97:
                covered += 1
            else:
                missed.append((name, word["text"], round(float(blacked.mean()), 2)))
    recall = covered / total
    assert total >= 80
    assert recall >= 0.95, f"recall {recall:.3f}; missed {missed}"


def test_pixels_outside_redacted_boxes_are_bit_identical(labelled: Path, redacted: dict) -> None:
    for name, entry in redacted["files"].items():
        _, before = _decoded(labelled / "text" / name)
        _, after = _decoded(redacted["out"] / entry["output"])
        assert before.shape == after.shape and before.dtype == after.dtype
        changed = before != after
        if changed.ndim == 4:
            changed = changed.any(-1)
        allowed = _redaction_mask(entry, before.shape)
        assert not (changed & ~allowed).any(), f"{name}: pixels changed outside redacted boxes"


def test_allow_listed_markers_are_kept(labelled: Path, redacted: dict) -> None:
    labels = json.loads((labelled / "labels.json").read_text())
    kept = total = 0
    for name, words in labels.items():
        entry = redacted["files"][name]
        _, before = _decoded(labelled / "text" / name)
        _, after = _decoded(redacted["out"] / entry["output"])
        for word in (w for w in words if w["kind"] == "marker"):
            x, y, w, h = word["box"]
            f = word["frame"]
            total += 1
            kept += bool((before[f, y : y + h, x : x + w] == after[f, y : y + h, x : x + w]).all())
    assert total >= 15
    # Markers next to identifying text are redacted with their line: the
    # majority, not all, survive.
    assert kept / total >= 0.6, f"only {kept} of {total} markers kept"


def test_second_ocr_pass_reads_no_identifying_value(redacted: dict) -> None:
    ids = person_identifiers()
    check = PixelSettings(mode="all", redact="none")
    for name, entry in redacted["files"].items():
        ds = pydicom.dcmread(redacted["out"] / entry["output"])
        outcome = examine(ds, ids, check, name, modify=False)
        phi = [f for f in outcome.findings if f.extra.get("label") == "phi"]
        assert not phi, f"{name}: {[(f.location, f.evidence) for f in phi]}"


def test_outputs_declare_what_was_done(labelled: Path, redacted: dict) -> None:
    for name, entry in redacted["files"].items():
        ds = pydicom.dcmread(redacted["out"] / entry["output"])
        source = pydicom.dcmread(labelled / "text" / name, stop_before_pixels=True)
        assert ds.BurnedInAnnotation == "NO", name
        codes = [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]
        assert "113101" in codes, name  # Clean Pixel Data Option, claimed truthfully
        # Lossless syntaxes are kept (RLE here); uncompressed stays uncompressed.
        assert ds.file_meta.TransferSyntaxUID == source.file_meta.TransferSyntaxUID, name
        assert int(ds.get("NumberOfFrames", 1)) == int(source.get("NumberOfFrames", 1))


def test_text_free_ct_and_mr_slices_are_not_redacted(labelled: Path) -> None:
    settings = PixelSettings(mode="all", redact="phi")
    slices = sorted((labelled / "clean").glob("*.dcm"))
    untouched = 0
    for path in slices:
        outcome = examine(pydicom.dcmread(path), person_identifiers(), settings, path.name)
        untouched += outcome.regions_redacted == 0
    assert len(slices) >= 40
    assert untouched / len(slices) >= 0.95, f"{len(slices) - untouched} slices redacted"


def _header(**values: object) -> Dataset:
    ds = Dataset()
    ds.Rows, ds.Columns, ds.BitsAllocated = 64, 64, 8
    ds.PixelData = b"\0" * 4096
    ds.SeriesInstanceUID = "1.2.3.4"
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
EXAMINE, SERIES, SKIP = Verdict.EXAMINE, Verdict.SERIES, Verdict.SKIP


@pytest.mark.parametrize(
    ("values", "mode", "expected"),
    [
        ({"Modality": "US"}, "auto", EXAMINE),  # burned-in prone, flag missing
        ({"Modality": "US", "BurnedInAnnotation": "NO"}, "auto", EXAMINE),  # NO is not trusted
        ({"Modality": "US", "BurnedInAnnotation": "NO"}, "trust", SKIP),
        ({"Modality": "CT", "SOPClassUID": CT_IMAGE}, "auto", SERIES),
        ({"Modality": "CT", "ImageType": ["ORIGINAL", "PRIMARY", "AXIAL"]}, "auto", SERIES),
        ({"Modality": "MR", "BurnedInAnnotation": "YES"}, "auto", EXAMINE),
        # A capture is a capture whatever its Modality says.
        ({"Modality": "CT", "SOPClassUID": SECONDARY_CAPTURE}, "auto", EXAMINE),
        ({"Modality": "MR", "ImageType": ["DERIVED", "SECONDARY", "SCREEN SAVE"]}, "auto", EXAMINE),
        ({"Modality": "CT", "ImageType": ["DERIVED", "PRIMARY", "MPR"]}, "auto", EXAMINE),
        ({"Modality": "CT", "ImageType": ["ORIGINAL", "PRIMARY", "LOCALIZER"]}, "auto", EXAMINE),
        ({"Modality": "CT", "SeriesDescription": "Dose Report"}, "auto", EXAMINE),
        ({"Modality": "PT", "ConversionType": "WSD"}, "auto", EXAMINE),
        ({"Modality": "RTIMAGE"}, "auto", EXAMINE),  # unknown kinds are looked at
        ({"Modality": "SEG", "SOPClassUID": "1.2.840.10008.5.1.4.1.1.66.4"}, "auto", SKIP),
        ({"Modality": "CT"}, "all", EXAMINE),
        ({"Modality": "US"}, "off", SKIP),
        ({"Modality": "SEG", "SOPClassUID": "1.2.840.10008.5.1.4.1.1.66.4"}, "all", SKIP),
        # 1- and 32-bit pictures are examined (they were skipped silently).
        ({"Modality": "OT", "BitsAllocated": 1}, "auto", EXAMINE),
        ({"Modality": "OT", "BitsAllocated": 32}, "auto", EXAMINE),
        ({"Modality": "OT", "BitsAllocated": 64}, "auto", SKIP),
        # An ORIGINAL slice with no series to sample is examined on its own.
        ({"Modality": "CT", "ImageType": ["ORIGINAL", "PRIMARY"], "SeriesInstanceUID": ""},
         "auto", EXAMINE),
    ],
)
def test_which_files_are_examined(values: dict, mode: str, expected: Verdict) -> None:
    settings = (
        PixelSettings(mode="auto", trust_declared=True)
        if mode == "trust"
        else (PixelSettings(mode=mode))
    )
    decision = decide(_header(**values), settings)
    assert decision.verdict is expected and decision.reason


@pytest.mark.parametrize(
    ("values", "mode", "severity"),
    [
        ({"Modality": "US"}, "off", Severity.MEDIUM),
        ({"Modality": "CT", "SOPClassUID": SECONDARY_CAPTURE}, "off", Severity.MEDIUM),
        ({"Modality": "CT"}, "off", Severity.LOW),  # a slice of a series
        ({"Modality": "MR", "BurnedInAnnotation": "YES"}, "off", Severity.HIGH),
        ({"Modality": "US", "BurnedInAnnotation": "NO"}, "trust", Severity.LOW),
        ({"Modality": "SEG", "SOPClassUID": "1.2.840.10008.5.1.4.1.1.66.4"}, "off", None),
        # A bit depth deid cannot read: it was skipped with no finding.
        ({"Modality": "OT", "BitsAllocated": 64}, "auto", Severity.MEDIUM),
        ({"Modality": "OT", "BitsAllocated": 64, "BurnedInAnnotation": "YES"}, "auto",
         Severity.HIGH),
    ],
)
def test_an_image_left_unexamined_is_a_finding(
    values: dict, mode: str, severity: Severity | None
) -> None:
    settings = (
        PixelSettings(mode="auto", trust_declared=True)
        if mode == "trust"
        else (PixelSettings(mode=mode))
    )
    outcome = examine(_header(**values), IdentifierSet(), settings, "x")
    assert not outcome.examined
    found = [f for f in outcome.findings if f.rule.startswith("pixels.")]
    if severity is None:
        assert not found
    else:
        assert [f.severity for f in found] == [severity], found
        assert outcome.decision.removeprefix("not examined: ") in found[0].message


def test_redact_none_reports_and_changes_nothing(labelled: Path, tmp_path: Path) -> None:
    name = "text-000-ct-J2K_pixelrep_mismatch.dcm"
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / name).write_bytes((labelled / "text" / name).read_bytes())
    settings = run_settings(
        inputs=[tmp_path / "in"],
        output=tmp_path / "out",
        report_dir=tmp_path / "rep",
        pixels="all",
        redact="none",
        jobs=1,
        environ={"DEID_KEY": "pixel-test-key-0123456789"},
    )
    outcome = deidentify([tmp_path / "in"], settings)
    entry = json.loads((tmp_path / "rep" / "report.json").read_text())["files"][0]
    assert outcome.exit_code == 1  # identifying text left in place is a high finding
    high = [f for f in entry["findings"] if f["severity"] == "high"]
    assert any(f["extra"]["label"] == "phi" for f in high if "extra" in f)
    _, before = _decoded(tmp_path / "in" / name)
    ds, after = _decoded(tmp_path / "out" / entry["output"])
    assert (before == after).all()
    # Text seen and left: the output says so (it said nothing before).
    assert ds.BurnedInAnnotation == "YES"


def test_text_left_after_redaction_withholds_the_file(
    labelled: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deid.pixels import redact

    monkeypatch.setattr(redact, "apply", lambda *a, **k: None)  # a redactor that fails
    name = "text-000-ct-J2K_pixelrep_mismatch.dcm"
    ds = pydicom.dcmread(labelled / "text" / name)
    outcome = examine(ds, person_identifiers(), PixelSettings(mode="all"), name)
    assert outcome.residual and not outcome.complete
    assert any(f.rule == "pixels.residual-text" for f in outcome.findings)


def test_known_region_rule_redacts_its_rectangle(labelled: Path, tmp_path: Path) -> None:
    rules = tmp_path / "regions.toml"
    rules.write_text('[[rule]]\nmanufacturer = "Banner Co"\nmodel = ""\nrects = [[0, 0, 40, 10]]\n')
    ds = pydicom.dcmread(sorted((labelled / "clean").glob("*.dcm"))[0])
    ds.Manufacturer = "Banner Co"
    settings = PixelSettings.build("all", "phi", region_rules=(rules,))
    outcome = examine(ds, IdentifierSet(), settings, "x")
    assert outcome.masks[0][:10, :40].all()
    assert outcome.masks[0].sum() == 400
    assert any(f.rule == "pixels.known-region" for f in outcome.findings)


def test_bad_region_rules_and_missing_tesseract_are_one_line_errors(tmp_path: Path) -> None:
    bad = tmp_path / "regions.toml"
    bad.write_text("[[rule]]\nrects = [[0, 0, -5, 10]]\n")
    src = tmp_path / "in"
    src.mkdir()
    base = [str(Path(sys.executable).parent / "deid"), "run", str(src), "-o", str(tmp_path / "o")]
    env = {**os.environ, "DEID_KEY": "pixel-test-key-0123456789"}
    done = subprocess.run(
        [*base, "--pixel-regions", str(bad)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 2
    assert "rule 1" in done.stderr and "Traceback" not in done.stderr
    no_tesseract = {**env, "PATH": str(Path(sys.executable).parent)}
    done = subprocess.run(base, capture_output=True, text=True, env=no_tesseract)
    assert done.returncode == 2
    assert "tesseract is not installed" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    done = subprocess.run(
        [*base, "--pixels", "off"], capture_output=True, text=True, env=no_tesseract
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("rects = [[0, 0, 1e309, 5]]", "rects"),  # infinity: a traceback
        ("rows = 1e309", "rows"),
        ("columns = nan", "columns"),
        ("rects = [[0, 0, true, 5]]", "rects"),
        ('ultrasound_outside_regions = "no"', "ultrasound_outside_regions"),  # read as true
    ],
)
def test_region_rule_numbers_and_switches_are_checked(tmp_path: Path, text: str, named: str):
    rules = tmp_path / "regions.toml"
    rules.write_text(f"[[rule]]\n{text}\n")
    with pytest.raises(UsageError, match=f"rule 1: {named}"):
        load_rules(rules)


def test_whole_float_pixel_numbers_are_read_as_pixels(tmp_path: Path) -> None:
    rules = tmp_path / "regions.toml"
    rules.write_text("[[rule]]\nrows = 512.0\nrects = [[0, 0, 10, 5]]\n")
    assert load_rules(rules)[0].rows == 512


def test_opencv_starts_no_thread_pool_a_forked_worker_could_inherit_locked() -> None:
    """A scan's worker hung in its first OpenCV call: forked while an OpenCV
    pool thread of the main process held the pool's lock."""
    code = (
        "import os\nimport numpy as np\nimport cv2\n"
        "from deid.host_state import while_deid_runs\n"
        "cv2.setNumThreads(3)\n"
        "with while_deid_runs():\n"
        "    from deid.cv import cv2\n"
        "    before = len(os.listdir('/proc/self/task'))\n"
        "    a = np.random.default_rng(0).random((2000, 2000), dtype=np.float32)\n"
        "    cv2.GaussianBlur(a, (31, 31), 5); cv2.resize(a, (500, 500))\n"
        "    print(before, len(os.listdir('/proc/self/task')))\n"
        "print(cv2.getNumThreads())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    before, after, host = done.stdout.split()
    assert after == before, done.stdout
    assert host == "3", "a library leaves the host's OpenCV threads as it found them"


def test_an_undecodable_image_says_why_each_decoder_failed(monkeypatch) -> None:
    """pydicom names each plugin's reason on its own line after a first line
    that says only that all failed; the reason kept only that first line."""
    from pydicom.data import get_testdata_file

    from deid.errors import InputFileError
    from deid.pixels import examine as examine_module

    def fails(ds):
        raise RuntimeError(
            "Unable to decode as exceptions were raised by all available plugins:\n"
            "  gdcm: GDCM does not support 12-bit JPEG\n  pillow: Pillow cannot either"
        )

    monkeypatch.setattr(frames, "decode", fails)
    ds = pydicom.dcmread(get_testdata_file("JPEG-lossy.dcm"))
    with pytest.raises(InputFileError) as caught:
        examine_module._decode(ds)
    reason = str(caught.value)
    assert "\n" not in reason and "JPEG Extended" in reason and "12 bits stored" in reason
    assert "plugins: gdcm: GDCM does not support 12-bit JPEG; pillow: Pillow cannot" in reason
    # What to do about it, on the same line: the one decoder of 12-bit JPEG
    # (where it is not installed), or writing the file unexamined.
    assert reason.endswith(
        "; installing pylibjpeg-libjpeg (GPL-3.0) decodes it"
        "; --pixels off writes it unexamined, reported as not examined"
    ), reason
    monkeypatch.setattr(examine_module, "_libjpeg", lambda: True)
    with pytest.raises(InputFileError) as caught:
        examine_module._decode(ds)
    assert "pylibjpeg-libjpeg" not in str(caught.value)
    unexamined = "; --pixels off writes it unexamined, reported as not examined"
    assert str(caught.value).endswith(unexamined)
    ds.BitsStored = 8  # 8-bit JPEG Extended: other plugins decode it
    monkeypatch.setattr(examine_module, "_libjpeg", lambda: False)
    with pytest.raises(InputFileError) as caught:
        examine_module._decode(ds)
    assert "pylibjpeg-libjpeg" not in str(caught.value)


@pytest.mark.parametrize(
    ("kind", "text", "named"),
    [
        ("regions", "[[rules]]\nrects = [[0, 0, 40, 10]]\n", "'rules'"),
        ("regions", '[[rule]]\nmanufacturer = "X"\nrectz = [[0, 0, 40, 10]]\n', "'rectz'"),
        ("allowlist", 'wordz = ["ACME"]\n', "'wordz'"),
    ],
)
def test_misspelt_keys_in_pixel_rule_files_are_refused(tmp_path: Path, kind, text, named):
    """A misspelt key was ignored: a redaction rule that silently did nothing."""
    path = tmp_path / f"{kind}.toml"
    path.write_text(text)
    with pytest.raises(UsageError, match=f"unknown key.*{named}"):
        if kind == "regions":
            load_rules(path)
        else:
            load_allowlist(path)


def test_scan_reports_burned_in_text_and_changes_nothing(labelled: Path, tmp_path: Path) -> None:
    name = "text-004-us-examples_palette.dcm"  # US: examined under the default --pixels auto
    before = (labelled / "text" / name).read_bytes()
    deid = str(Path(sys.executable).parent / "deid")
    target = str(labelled / "text" / name)
    done = subprocess.run(
        [
            deid,
            "scan",
            target,
            "--format",
            "json",
            "--no-dataset-risk",
            "--show-values",
            "--report-dir",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1, done.stderr
    findings = json.loads(done.stdout)["files"][0]["findings"]
    text = [f for f in findings if f["rule"] == "pixels.burned-in-text"]
    assert any(f["extra"]["label"] == "phi" and f["severity"] == "high" for f in text)
    assert all(f["action"] == "reported only" for f in text)
    assert (labelled / "text" / name).read_bytes() == before
    off = subprocess.run(
        [deid, "scan", target, "--format", "json", "--no-dataset-risk", "--pixels", "off"],
        capture_output=True,
        text=True,
    )
    rules = {f["rule"] for f in json.loads(off.stdout)["files"][0]["findings"]}
    assert "pixels.burned-in-text" not in rules


def test_a_misread_wide_region_is_redacted_not_kept_as_a_marker(
    labelled: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OCR that reads a long line as ':' proves nothing: redaction must not
    trust the allow-list on a reading that cannot account for the box."""
    from deid.pixels import ocr

    monkeypatch.setattr(ocr, "read", lambda rgb, boxes: [ocr.Reading(":", 40.0) for _ in boxes])
    name = "text-000-ct-J2K_pixelrep_mismatch.dcm"
    outcome = examine(
        pydicom.dcmread(labelled / "text" / name), IdentifierSet(), PixelSettings(mode="all"), name
    )
    wide = [
        f
        for f in outcome.findings
        if f.rule == "pixels.burned-in-text" and f.extra["box"][2] > 3 * f.extra["box"][3]
    ]
    assert wide and all(f.action == "redacted" for f in wide)


@pytest.mark.parametrize("dtype", [np.uint16, np.int16, np.uint8])
def test_integer_stretch_matches_the_percentile_stretch(dtype: type) -> None:
    rng = np.random.default_rng(5)
    info = np.iinfo(dtype)
    low, high = max(info.min, -1024), min(info.max, 3000)
    frame = rng.integers(low, high, size=(512, 512)).astype(dtype)
    frame[10:20, 10:200] = high  # text drawn at the top of the range
    fast = frames._stretch(frame)
    values = frame.astype(np.float32)
    lo, hi = np.percentile(values[::2], (0.5, 99.5))
    slow = np.clip((values - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)
    assert np.abs(fast.astype(int) - slow.astype(int)).max() <= 2


def test_slice_series_use_the_int8_detector_and_it_is_the_documented_file() -> None:
    import hashlib

    from deid.pixels import detect
    from deid.pixels.examine import _series_of_slices

    readme = (detect.MODELS / "README.md").read_text()
    digest = hashlib.sha256(detect.FAST_MODEL.read_bytes()).hexdigest()
    assert digest in readme
    gray = frames.Pixels(np.zeros((1, 8, 8), np.uint16), "MONOCHROME2")
    colour = frames.Pixels(np.zeros((1, 8, 8, 3), np.uint8), "RGB")
    assert _series_of_slices(_header(Modality="CT"), gray)
    assert not _series_of_slices(_header(Modality="US"), gray)
    assert not _series_of_slices(_header(Modality="MR"), colour)


# --------------------------------------------------------------------------
# Issue 17: the default run on a mixed batch, the hard cases, series


def _run(inputs: Path, tmp: Path, **options: object) -> dict:
    """deid run over `inputs` (report outside the output, values shown):
    report entries by input name, and where the outputs are."""
    settings = run_settings(
        inputs=[inputs],
        output=tmp / "out",
        report_dir=tmp / "report",
        show_values=True,
        jobs=2,
        environ={"DEID_KEY": "pixel-test-key-0123456789"},
        **options,
    )
    outcome = deidentify([inputs], settings)
    report = json.loads((tmp / "report" / "report.json").read_text())
    files = {Path(e["input"]).name: e for e in report["files"]}
    return {"out": tmp / "out", "files": files, "report": report, "exit": outcome.exit_code}


def _scores(folder: Path, labels: dict, run: dict) -> list:
    out = []
    for name, label in labels.items():
        entry = run["files"][name]
        _, before = _decoded(folder / name)
        after = None
        if entry["status"] == "written":
            _, after = _decoded(run["out"] / entry["output"])
        out.append(score_file(name, label, before, after, entry))
    return out


@pytest.fixture(scope="module")
def hard(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("hard")
    labels = build_hard(root)
    run = _run(root / "hard", tmp_path_factory.mktemp("hard-run"))
    return {"labels": labels, "scores": _scores(root / "hard", labels, run), "run": run}


@pytest.mark.parametrize("case", ["5-digit numbers", "short name", "CJK name", "bright anatomy"])
def test_hard_cases_are_redacted_by_the_default_run(hard: dict, case: str) -> None:
    """Worklist record numbers of five digits, two-letter surnames and
    two-character CJK names standing alone, light text over the brightest
    bone: each case's identifying words are blacked out."""
    scores = [s for s in hard["scores"] if s.case == case]
    words = sum(s.words for s in scores)
    covered = sum(s.covered for s in scores)
    assert words >= 8
    missed = [(s.name, s.missed) for s in scores if s.missed]
    assert covered / words >= 0.9, f"{case}: {covered}/{words}; missed {missed}"
    assert not any(s.silent for s in scores)


def test_text_free_doppler_echo_and_radiographs_are_left_untouched(hard: dict) -> None:
    """Colour flow, power and spectral Doppler, echo speckle and radiographs
    are not text: no pixel changes, no box inside an ultrasound data region."""
    clean = [s for s in hard["scores"] if not hard["labels"][s.name]["words"]]
    cases = {s.case for s in clean}
    assert {"echo cine", "radiograph text-free", "ultrasound colour doppler"} <= cases
    assert {"ultrasound power doppler", "ultrasound spectral doppler"} <= cases
    assert len(clean) >= 16
    touched = [s.name for s in clean if s.touched]
    assert len(touched) / len(clean) <= 0.02, touched
    assert sum(s.region_boxes for s in clean) == 0
    us = [s for s in clean if s.case.startswith(("ultrasound", "echo"))]
    assert all(s.examined.startswith("examined") for s in us)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("mixed")
    labels = build_mixed(root, slices=(6, 9))
    run = _run(root / "mixed", tmp_path_factory.mktemp("mixed-run"))
    return {
        "root": root / "mixed",
        "labels": labels,
        "scores": _scores(root / "mixed", labels, run),
        "run": run,
    }


def test_default_run_redacts_identifying_words_wherever_they_are(mixed: dict) -> None:
    """--pixels auto on a batch as a site sends it: series with the banner
    on every slice, screens labelled CT/MR/OT, single CT/MR images without
    BurnedInAnnotation, ultrasound, CR/DX."""
    scores = mixed["scores"]
    words = sum(s.words for s in scores)
    covered = sum(s.covered for s in scores)
    missed = [(s.name, s.missed) for s in scores if s.missed]
    assert words >= 200
    assert covered / words >= 0.97, f"{covered}/{words}; missed {missed}"
    for case in {s.case for s in scores}:
        of_case = [s for s in scores if s.case == case]
        total = sum(s.words for s in of_case)
        if total:
            assert sum(s.covered for s in of_case) / total >= 0.9, case
    assert not [s.name for s in scores if s.silent], "a word missed with no finding"


def test_every_series_with_text_is_examined_whole(mixed: dict) -> None:
    files = mixed["run"]["files"]
    series: dict[str, list[str]] = {}
    for name, label in mixed["labels"].items():
        if label["series"]:
            series.setdefault(label["case"], []).append(name)
    texts = [case for case in series if "text" in case]
    assert set(texts) == {"ct-text-a", "ct-text-b", "ct-text-faint", "mr-text"}
    for case in texts:
        decisions = {files[n]["summary"]["pixels"] for n in series[case]}
        assert all(d.startswith("examined: ") for d in decisions), (case, decisions)
        rules = [f["rule"] for n in series[case] for f in files[n]["findings"]]
        assert rules.count("pixels.series-text") == 1, case
    # The faint banner shows in no slice's picture: the static-overlay check
    # found it, and its regions were redacted in every slice.
    for name in series["ct-text-faint"]:
        assert any(f["rule"] == "pixels.static-overlay" for f in files[name]["findings"])


def test_text_free_series_are_sampled_and_say_so(mixed: dict) -> None:
    files, out = mixed["run"]["files"], mixed["run"]["out"]
    for case in ("ct-clean-a", "ct-clean-b", "mr-clean"):
        names = sorted(n for n, lb in mixed["labels"].items() if lb["case"] == case)
        decisions = [files[n]["summary"]["pixels"] for n in names]
        examined = [n for n, d in zip(names, decisions, strict=True) if d.startswith("examined")]
        assert len(examined) == 3, (case, decisions)
        assert {names[0], names[-1]} <= set(examined)  # first and last slices
        sampled = [n for n in names if n not in examined]
        assert all(files[n]["summary"]["pixels"].startswith("sampled by series") for n in sampled)
        notes = [f for n in names for f in files[n]["findings"] if f["rule"].startswith("pixels.")]
        assert [f["rule"] for f in notes] == ["pixels.series-sampled"], case
        assert f"{len(sampled)} slices were not examined" in notes[0]["message"]
        # Markers: only a file examined whole claims clean pixel data.
        for name in names:
            ds = pydicom.dcmread(out / files[name]["output"], stop_before_pixels=True)
            codes = [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]
            claims = ds.get("BurnedInAnnotation") == "NO" and "113101" in codes
            assert claims == (name in examined), name
            _, before = _decoded(mixed["root"] / name)
            _, after = _decoded(out / files[name]["output"])
            assert (before == after).all(), name
    pixels = mixed["run"]["report"]["totals"]["pixels"]
    assert pixels["sampled by series"] == sum(
        1 for e in files.values() if e["summary"]["pixels"].startswith("sampled by series")
    )
    assert pixels["examined"] + pixels["sampled by series"] == len(files)


def test_pixels_off_leaves_a_finding_on_every_image(mixed: dict, tmp_path: Path) -> None:
    """Never silent: an image not examined says so, and why."""
    folder = tmp_path / "in"
    folder.mkdir()
    picked = [
        "sc-000-ct.dcm",
        "single-single-image-001.dcm",
        "us-text-000.dcm",
        "ct-clean-a-0000.dcm",
    ]
    for name in picked:
        (folder / name).write_bytes((mixed["root"] / name).read_bytes())
    run = _run(folder, tmp_path, pixels="off")
    severities = {}
    for name in picked:
        notes = [f for f in run["files"][name]["findings"] if f["rule"] == "pixels.not-examined"]
        assert len(notes) == 1 and "--pixels off" in notes[0]["message"], name
        severities[name] = notes[0]["severity"]
    assert severities == {
        "sc-000-ct.dcm": "medium",
        "single-single-image-001.dcm": "low",  # a CT slice: its series would be sampled
        "us-text-000.dcm": "medium",
        "ct-clean-a-0000.dcm": "low",
    }
    assert run["report"]["totals"]["pixels"] == {"not examined": 4}
    deid = str(Path(sys.executable).parent / "deid")
    env = {**os.environ, "DEID_KEY": "pixel-test-key-0123456789"}
    done = subprocess.run(
        [deid, "run", str(folder), "-o", str(tmp_path / "cli"), "--pixels", "off"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert "burned-in text: examined 0, sampled by series 0, not examined 4" in done.stderr


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("12 03 1962", "pattern"),
        ("DOB 1962 03 12", "pattern"),
        ("3 12 2024", "pattern"),
        ("W 400 L 40", "marker"),
        ("10 20 30", "marker"),
        ("25 30 2000", "marker"),  # no month among its first two numbers
        ("5 CM", "marker"),
    ],
)
def test_a_spaced_date_is_a_date_not_three_numbers(text, kind):
    # Each group alone is a number the allow-list keeps: a date of birth
    # written with spaces was kept as an annotation.
    from deid.pixels.classify import label

    allow = load_allowlist(Path(__file__).parent.parent / "profiles" / "pixels" / "allowlist.toml")
    assert label(text, IdentifierSet(), allow).kind == kind


def test_the_patients_own_date_with_a_two_digit_year_is_identifying():
    # "29 09 47" is three numbers the allow-list keeps, and no form of the
    # birth date had a two-digit year: it was kept as an annotation.
    from deid.pixels.classify import Label, label

    allow = load_allowlist(Path(__file__).parent.parent / "profiles" / "pixels" / "allowlist.toml")
    own = IdentifierSet()
    own.add("date", "19470929", "PatientBirthDate")
    for text in ("29 09 47", "DOB 29.09.47", "09/29/47"):
        assert label(text, own, allow) == Label("phi", "date"), text
    assert label("29 09 48", own, allow).kind == "marker"
    study = IdentifierSet()  # another date's three numbers are no form of it
    study.add("date", "20210305", "StudyDate")
    assert label("3 5 21 cm", study, allow).kind == "marker"


def test_pixel_data_deid_cannot_read_back_is_a_finding_and_data_is_not():
    # Float pixel data (BitsAllocated 32) was examined, its redaction
    # written into a new PixelData beside the unredacted original.
    picture = _header(Modality="OT", BitsAllocated=32)
    del picture.PixelData
    picture.FloatPixelData = b"\0" * 4 * 64 * 64
    found = decide(picture, PixelSettings(mode="auto"))
    assert found.verdict is SKIP and found.unexamined is Severity.MEDIUM
    assert "float pixel data" in found.reason
    # Its finding names no --pixels mode: none examines float data.
    from deid.pixels.examine import not_examined

    for mode in ("auto", "all"):
        finding = not_examined("f", decide(picture, PixelSettings(mode=mode)), "")
        assert "--pixels" not in finding.action and "review" in finding.action, finding.action
    unread = not_examined("f", decide(_header(Modality="OT"), PixelSettings(mode="off")), "")
    assert "--pixels auto or all" in unread.action  # what would have examined it
    trusted = _header(Modality="OT", BurnedInAnnotation="NO")  # auto would trust it too
    off = PixelSettings(mode="off", trust_declared=True)
    advice = not_examined("f", decide(trusted, off), "NO").action
    assert "--pixels all, or auto without --trust-burned-in-annotation" in advice, advice
    # A parametric map is data, whatever its depth: no finding; declaring
    # text, a high one, and never redacted (an RT dose lost its hot spots).
    data = _header(Modality="OT", BitsAllocated=64, SOPClassUID="1.2.840.10008.5.1.4.1.1.30")
    assert decide(data, PixelSettings(mode="auto")).unexamined is None
    dose = _header(Modality="RTDOSE", BitsAllocated=32, SOPClassUID="1.2.840.10008.5.1.4.1.1.481.2",
                   BurnedInAnnotation="YES")  # fmt: skip
    for mode in ("auto", "all"):
        found = decide(dose, PixelSettings(mode=mode))
        assert found.verdict is SKIP and found.unexamined is Severity.HIGH, mode


def test_tiles_cover_every_size_with_overlap():
    from deid.pixels.detect import TILE, TILE_OVERLAP, _tile_starts

    for size in (1, 1023, 1024, 1025, 2047, 2049, 3000, 4096, 10_000):
        starts = _tile_starts(size)
        assert starts[0] == 0 and starts[-1] + min(TILE, size) == size
        for a, b in zip(starts, starts[1:], strict=False):
            assert 0 < b - a <= TILE - TILE_OVERLAP


def test_one_bit_frames_are_packed_back_whatever_their_size():
    from pydicom.uid import ExplicitVRLittleEndian as LE

    from deid.pixels.frames import Pixels
    from deid.pixels.redact import store

    rng = np.random.default_rng(1)
    frames_ = (rng.random((3, 13, 17)) > 0.5).astype(np.uint8)  # 663 bits: not whole bytes
    ds = _header(Rows=13, Columns=17, BitsAllocated=1, BitsStored=1, HighBit=0,
                 SamplesPerPixel=1, PixelRepresentation=0, NumberOfFrames=3,
                 PhotometricInterpretation="MONOCHROME2")  # fmt: skip
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = LE
    store(ds, Pixels(frames_, "MONOCHROME2"), LE)
    assert len(ds.PixelData) in (83, 84)  # ceil(663 / 8), padded to even when written
    assert (ds.pixel_array == frames_).all()


@pytest.mark.parametrize("bits", [1, 32])
def test_one_and_thirty_two_bit_pictures_are_examined_and_stay_valid(tmp_path, bits):
    # They were skipped with no finding, even declaring their text. A 1-bit
    # picture's redacted pixels must be packed again, eight to a byte.
    from pydicom.pixels import pack_bits

    from fixtures.burned_in import image_dataset
    from fixtures.scenes import stamp

    image = np.zeros((128, 384), np.uint8 if bits == 1 else np.uint32)
    stamp(image, "CERVANTES, MIGUEL", 10, 10, 14, 1 if bits == 1 else 60000)
    ds = image_dataset(image, "OT")
    ds.BitsAllocated = ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelData = pack_bits(image) if bits == 1 else image.tobytes()
    ds.BurnedInAnnotation = "YES"
    (tmp_path / "in").mkdir()
    ds.save_as(tmp_path / "in" / "a.dcm", enforce_file_format=True)
    run = _run(tmp_path / "in", tmp_path)
    entry = run["files"]["a.dcm"]
    assert entry["status"] == "written" and entry["summary"]["pixels"].startswith("examined")
    out = pydicom.dcmread(run["out"] / entry["output"])
    assert len(out.PixelData) == len(ds.PixelData)
    assert out.pixel_array.max() == 0 < image.max()  # every stroke redacted
    assert out.BurnedInAnnotation == "NO"


@pytest.mark.parametrize("compressed", [False, True])
def test_a_series_sampled_without_the_constant_pixel_check_is_a_finding(tmp_path, compressed):
    # Stored compressed, a series' constant pixels cannot be read: faint
    # text on every slice that the samples' detector misses stays, and that
    # was said as information only.
    from pydicom.uid import RLELossless

    labels: dict = {}
    folder = tmp_path / "in"
    write_images(folder, text_series("c", "J2K_pixelrep_mismatch.dcm", "CT", 8, 1), labels)
    if compressed:
        for path in folder.glob("*.dcm"):
            ds = pydicom.dcmread(path)
            ds.compress(RLELossless, generate_instance_uid=False)
            ds.save_as(path, enforce_file_format=True)
    run = _run(folder, tmp_path)
    notes = [f for e in run["files"].values() for f in e["findings"]
             if f["rule"] == "pixels.series-sampled"]  # fmt: skip
    assert len(notes) == 1
    assert notes[0]["severity"] == ("low" if compressed else "info"), notes
    assert ("no check of constant pixels" in notes[0]["message"]) is compressed


def test_small_print_on_a_large_image_is_found_at_its_own_size(tmp_path):
    # Over 2048 px an image was shrunk to fit the detector: a mammogram's
    # 7-9 px name fell below what it sees and was written back legible.
    from fixtures.burned_in import image_dataset
    from fixtures.scenes import stamp

    rng = np.random.default_rng(0)
    image = (300 + rng.random((600, 4096)) * 2700).astype(np.uint16)
    image[:200] = 50
    # At the left, across the first tiles' seam (896-1024) and at the right edge.
    for x in (40, 930, 3950):
        for k, size in enumerate((7, 9)):
            stamp(image, "CERVANTES, MIGUEL", x, 40 + k * 60, size, 1500)
    ink = np.zeros(image.shape, bool)
    ink[:200] = image[:200] == 1500
    (tmp_path / "in").mkdir()
    image_dataset(image, "MG", sop="1.2.840.10008.5.1.4.1.1.1.2").save_as(
        tmp_path / "in" / "a.dcm", enforce_file_format=True
    )
    run = _run(tmp_path / "in", tmp_path, face="off")
    entry = run["files"]["a.dcm"]
    out = pydicom.dcmread(run["out"] / entry["output"]).pixel_array
    assert ink.sum() > 50 and not (out[ink] == 1500).any()


def test_a_headerless_slice_is_read_for_the_static_check_in_a_dry_run(tmp_path: Path) -> None:
    """A dry run reads the inputs' raw pixels (no output exists): a headerless
    slice (no file meta) gave no layout, and its whole series was reported
    with no static check where the real run made one."""
    from pydicom.data import get_testdata_file

    from deid.pixels.series import RawLayout

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    with_meta, bare = tmp_path / "meta.dcm", tmp_path / "IMG0001"
    ds.save_as(with_meta, enforce_file_format=True)
    del ds.file_meta
    ds.save_as(bare, implicit_vr=True, little_endian=True)
    layout = RawLayout.of_file(bare)
    assert layout is not None
    assert np.array_equal(layout.read(bare), RawLayout.of_file(with_meta).read(with_meta))


def test_static_overlay_check_finds_text_no_slice_shows(tmp_path: Path) -> None:
    from deid.pixels.series import RawLayout, Stack, static_text

    labels: dict = {}
    write_images(
        tmp_path / "faint",
        text_series("f", "J2K_pixelrep_mismatch.dcm", "CT", 6, 1, "faint"),
        labels,
    )
    write_images(
        tmp_path / "clean", text_series("c", "J2K_pixelrep_mismatch.dcm", "CT", 6, 1), labels
    )
    found = {}
    for kind in ("faint", "clean"):
        stack = Stack()
        for path in sorted((tmp_path / kind).glob("*.dcm")):
            stack.add(RawLayout.of_file(path).read(path))
        found[kind] = static_text(stack)
    assert not found["clean"]
    words = [w["box"] for w in labels["f-0000.dcm"]["words"]]
    for x, y, w, h in words:  # every banner line lies inside a region found
        assert any(
            bx <= x + 2 and by <= y + 2 and bx + bw >= x + w - 2 and by + bh >= y + h - 2
            for (bx, by, bw, bh) in (o.box for o in found["faint"])
        ), (x, y, w, h)
    # No one slice's picture shows the banner to the detector.
    ds = pydicom.dcmread(tmp_path / "faint" / "f-0003.dcm")
    outcome = examine(ds, person_identifiers(), PixelSettings(mode="all"), "f")
    assert not [f for f in outcome.findings if f.extra.get("label") in ("phi", "pattern")]


def test_redact_none_declares_text_the_static_overlay_check_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A review: with --redact none, text found only by the static-overlay
    check was left in every slice under the input's BurnedInAnnotation NO.
    A clean series under --redact none keeps its NO."""
    from deid.pixels import examine as examine_module

    labels: dict = {}
    write_images(
        tmp_path / "in" / "faint",
        text_series("f", "J2K_pixelrep_mismatch.dcm", "CT", 8, 1, "faint"),
        labels,
    )
    write_images(
        tmp_path / "in" / "clean", text_series("c", "J2K_pixelrep_mismatch.dcm", "CT", 8, 1), labels
    )
    for path in (tmp_path / "in").rglob("*.dcm"):
        ds = pydicom.dcmread(path)
        ds.BurnedInAnnotation = "NO"
        ds.save_as(path)
    # The faint banner shows in no slice's picture (the test above): the
    # detector is made to see nothing, so only the static check finds it.
    monkeypatch.setattr(examine_module, "_candidates", lambda run, index: [])
    run = _run(tmp_path / "in", tmp_path, redact="none", face="off")
    for name, entry in run["files"].items():
        marker = pydicom.dcmread(run["out"] / entry["output"]).BurnedInAnnotation
        rules = {f["rule"] for f in entry["findings"]}
        if name.startswith("f-"):
            assert "pixels.static-overlay" in rules and marker == "YES", (name, rules)
        else:
            assert "pixels.static-overlay" not in rules and marker == "NO", (name, rules)


def test_a_resumed_run_finishes_a_series_cut_short_before_its_redaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash after the samples found text but before the rest of the series
    was redacted: running the same command again redacts every slice."""
    from deid import collectors

    labels: dict = {}
    images = text_series("t", "J2K_pixelrep_mismatch.dcm", "CT", 8, 1, "corner")
    images += text_series("c", "693_J2KI.dcm", "CT", 8, 2)
    write_images(tmp_path / "in", images, labels)

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(collectors, "again", crash)
    with pytest.raises(RuntimeError):
        _run(tmp_path / "in", tmp_path)
    monkeypatch.undo()
    run = _run(tmp_path / "in", tmp_path)
    scores = _scores(tmp_path / "in", labels, run)
    text = [s for s in scores if s.case == "t"]
    assert sum(s.covered for s in text) == sum(s.words for s in text) >= 24
    assert all(run["files"][s.name]["summary"]["pixels"].startswith("examined") for s in text)
    # A third run finds everything done and reports it the same way (the
    # journal keeps no values: evidence aside).
    again = _run(tmp_path / "in", tmp_path)

    def seen(files: dict) -> list:
        return [
            [(f["rule"], f["location"], f["action"]) for f in e["findings"]] for e in files.values()
        ]

    assert seen(again["files"]) == seen(run["files"])


def test_scan_checks_a_file_declaring_no_unless_told_to_trust_it(
    labelled: Path, tmp_path: Path
) -> None:
    ds = pydicom.dcmread(labelled / "text" / "text-004-us-examples_palette.dcm")
    ds.BurnedInAnnotation = "NO"
    target = tmp_path / "declared-no.dcm"
    ds.save_as(target)
    deid = str(Path(sys.executable).parent / "deid")
    base = [deid, "scan", str(target), "--format", "json", "--no-dataset-risk"]
    checked = subprocess.run(base, capture_output=True, text=True)
    rules = [f["rule"] for f in json.loads(checked.stdout)["files"][0]["findings"]]
    assert "pixels.burned-in-text" in rules and "pixels.declared-no-but-text" in rules
    trusted = subprocess.run(
        [*base, "--trust-burned-in-annotation"], capture_output=True, text=True
    )
    findings = json.loads(trusted.stdout)["files"][0]["findings"]
    pixel = [(f["rule"], f["severity"]) for f in findings if f["rule"].startswith("pixels.")]
    assert pixel == [("pixels.not-examined", "low")]


def test_vertical_text_along_an_edge_is_read_turned_and_redacted() -> None:
    """Regions taller than wide are cleared as anatomy only when they read
    as nothing turned a quarter either way: vertical text is still text."""
    from fixtures.burned_in import image_dataset
    from fixtures.scenes import radiograph, text_alpha

    img = radiograph(np.random.default_rng(5), part="chest")
    for x, text, turns in ((30, "CERVANTES MIGUEL", 1), (980, "MRN7731904", 3)):
        alpha = np.rot90(text_alpha(text, 18), turns)
        h, w = alpha.shape
        region = img[300 : 300 + h, x : x + w].astype(np.float32)
        img[300 : 300 + h, x : x + w] = (region * (1 - alpha) + 3600 * alpha).astype(np.uint16)
    outcome = examine(
        image_dataset(img, "CR", image_type=None), person_identifiers(), PixelSettings(), "v"
    )
    redacted = [f for f in outcome.findings if f.action == "redacted"]
    assert sorted(f.extra["label"] for f in redacted) == ["phi", "phi"]
    assert all(f.extra["box"][3] > 150 for f in redacted)  # the tall regions themselves


def test_a_compressed_series_with_text_claims_no_clean_picture(tmp_path: Path) -> None:
    """Faint text constant in every slice is found by the static-overlay check
    only, which cannot read compressed pixels: once the samples show the
    series carries text, no output claims a clean picture and a high finding
    says what could not be checked."""
    labels: dict = {}
    images = text_series("r", "J2K_pixelrep_mismatch.dcm", "CT", 12, 5, "faint", "rle")
    write_images(tmp_path / "in", images, labels)
    run = _run(tmp_path / "in", tmp_path, face="off")
    findings = [f for e in run["files"].values() for f in e["findings"]]
    series = [f for f in findings if f["rule"] == "pixels.series-text"]
    assert [f["severity"] for f in series] == ["high"], series
    assert "no check of pixels constant across slices" in series[0]["message"]
    assert run["exit"] == 1
    for entry in run["files"].values():
        ds = pydicom.dcmread(run["out"] / entry["output"])
        assert ds.get("BurnedInAnnotation") != "NO", entry["input"]
        codes = [c.CodeValue for c in ds.get("DeidentificationMethodCodeSequence", [])]
        assert "113101" not in codes, entry["input"]


def _head_ct_slices(count: int) -> list[Dataset]:
    """Middle slices of the real-size head CT phantom (512x512, 0.49 mm,
    scanner noise): the skull's section there is a ring, cut open in front."""
    from dataclasses import replace

    from fixtures.head_phantom import CT_PADDING, by_name, stored, volume

    variant = replace(
        by_name("ct-head"), pixel_mm=250 / 512, slice_mm=1.25, fov_mm=250,
        depth_mm=1.25 * count, padding=True,
    )  # fmt: skip
    vol, origins, orientation = volume(variant, seed=7)
    pixels = stored(vol, variant)
    slices = []
    for i in range(count):
        ds = _header(Rows=512, Columns=512, BitsAllocated=16, Modality="CT")
        ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 15, 1
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.RescaleIntercept, ds.RescaleSlope, ds.PixelPaddingValue = -1024, 1, CT_PADDING
        ds.PixelData = pixels[i].tobytes()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        slices.append(ds)
    return slices


def test_a_skull_section_is_not_read_as_text() -> None:
    """Found measuring throughput on head CT: the detector framed the skull
    ring (311x294 px) and OCR, squashing it into one line, read "roy kod"
    at 79: the middle sample then made the whole series examined and the
    brain of 17 slices was blacked out. A reading with more characters than
    one line of its box can hold lets the region's texture decide."""
    for ds in _head_ct_slices(3):
        outcome = examine(ds, person_identifiers(), PixelSettings(mode="all"), "head.dcm")
        assert outcome.regions_redacted == 0, [f.extra for f in outcome.findings]


def test_over_read_spares_lines_of_narrow_characters() -> None:
    from deid.pixels.detect import Box
    from deid.pixels.judge import over_read

    assert over_read(Box(0, 0, 311, 294, 0.96, "detector"), "roy kod")
    assert not over_read(Box(0, 0, 32, 20, 0.9, "detector"), "IIIIIIII")  # 0.2 h each
    assert not over_read(Box(0, 0, 200, 20, 0.9, "detector"), "DOE^JOHN 12345")


def _merge_lines_reference(boxes: list) -> list:
    """merge_lines as first written: each box against every box kept so far."""
    from deid.pixels.detect import Box

    merged = sorted(boxes, key=lambda b: (b.y, b.x))
    changed = True
    while changed:
        changed = False
        out: list = []
        for box in merged:
            for i, other in enumerate(out):
                overlap = min(box.y + box.h, other.y + other.h) - max(box.y, other.y)
                gap = max(box.x, other.x) - min(box.x + box.w, other.x + other.w)
                short = min(box.h, other.h)
                alike = max(box.h, other.h) < 1.8 * short
                if overlap > 0.6 * short and gap < 0.8 * short and alike:
                    x0, y0 = min(box.x, other.x), min(box.y, other.y)
                    x1 = max(box.x + box.w, other.x + other.w)
                    y1 = max(box.y + box.h, other.y + other.h)
                    out[i] = Box(x0, y0, x1 - x0, y1 - y0, max(box.score, other.score))
                    changed = True
                    break
            else:
                out.append(box)
        merged = out
    return merged


def test_merging_line_pieces_looks_only_at_boxes_sharing_rows():
    # A page of 12 000 small numbers (none joining) took over a minute: each
    # box was compared with every box kept. The result must not change.
    import random
    import threading

    from deid.pixels.detect import Box, merge_lines

    rng = random.Random(7)
    for _ in range(2_000):
        size = rng.choice([40, 200, 1000])
        boxes = [
            Box(rng.randint(0, size), rng.randint(0, size), rng.randint(0, 60),
                rng.randint(0, 40), round(rng.random(), 2))  # fmt: skip
            for _ in range(rng.randint(0, 40))
        ]
        assert merge_lines(boxes) == _merge_lines_reference(boxes)
    page = [Box(10 + 40 * (i % 100), 10 + 20 * (i // 100), 15, 10, 0.9) for i in range(12_000)]
    done = threading.Event()
    threading.Thread(target=lambda: (merge_lines(page), done.set()), daemon=True).start()
    assert done.wait(15)


def _capture_with_surplus(path: Path, surplus: bytes, text: str) -> int:
    """A Secondary Capture showing `text`, PixelData followed by `surplus`;
    how many pixels the text lit."""
    import cv2

    image = np.zeros((96, 480), np.uint8)
    cv2.putText(image, text, (10, 60), cv2.FONT_HERSHEY_SIMPLEX, 1.1, 255, 2)
    from pydicom.uid import generate_uid

    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = SECONDARY_CAPTURE, generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.ConversionType = "OT", "WSD"
    ds.PatientName, ds.PatientID = "SMITHERS^WAYLON", "998877"
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = image.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = image.tobytes() + surplus
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)
    return int((image > 0).sum())


@pytest.mark.parametrize("kind", ["a frame", "a name"])
def test_bytes_after_the_last_frame_are_removed_and_hide_nothing(tmp_path: Path, kind: str):
    """A frame's worth of bytes after the image made decoding read a 2-row
    strip where the picture was: its burned-in name went unseen and the file
    was marked BurnedInAnnotation NO. Text there went out as read (behind
    an image without text, whose pixel data is written as read)."""
    surplus = bytes(96 * 480) if kind == "a frame" else b"SMITHERS^WAYLON PID998877 " * 4
    text = "SMITHERS WAYLON 998877" if kind == "a frame" else ""
    folder = tmp_path / "in"
    folder.mkdir()
    lit = _capture_with_surplus(folder / "capture.dcm", surplus, text)
    run = _run(folder, tmp_path)
    entry = run["files"]["capture.dcm"]
    rules = {f["rule"]: f for f in entry["findings"]}
    assert "removed" in rules["pixels.surplus-bytes"]["action"]
    assert str(len(surplus)) in rules["pixels.surplus-bytes"]["message"]
    (written,) = [p for p in run["out"].rglob("*.dcm")]
    data = written.read_bytes()
    assert b"SMITHERS" not in data and b"998877" not in data
    ds = pydicom.dcmread(written)
    assert len(ds.PixelData) == 96 * 480
    assert int((ds.pixel_array > 0).sum()) <= lit // 10, "the burned-in name was redacted"
    deid = str(Path(sys.executable).parent / "deid")
    scanned = subprocess.run(
        [deid, "scan", str(folder), "--format", "json", "--no-dataset-risk"],
        capture_output=True,
        text=True,
    )
    found = {f["rule"]: f for f in json.loads(scanned.stdout)["files"][0]["findings"]}
    assert found["pixels.surplus-bytes"]["severity"] == "medium"
    assert ("pixels.burned-in-text" in found) is (kind == "a frame")  # the image, not a strip
    hidden = found.get("header.outside-elements")
    assert (hidden is not None) is (kind == "a name")
    if hidden:
        assert hidden["severity"] == "high" and "after its last frame" in hidden["location"]


@pytest.mark.parametrize(
    ("keyword", "vr", "value", "named"),
    [
        ("Rows", "LO", "abc", "Rows (LO)"),
        ("NumberOfFrames", "IS", "1\\2", "NumberOfFrames (IS)"),
    ],
)
def test_pixel_attributes_that_are_not_numbers_are_named(tmp_path, keyword, vr, value, named):
    """The decoder's own words named no attribute: "TypeError: '…' not
    supported between instances of '…' and '…'" once values were blanked."""
    folder = tmp_path / "in"
    folder.mkdir()
    _capture_with_surplus(folder / "capture.dcm", b"", "")
    ds = pydicom.dcmread(folder / "capture.dcm")
    ds.add_new(keyword, vr, value)
    ds.save_as(folder / "capture.dcm")
    entry = _run(folder, tmp_path)["files"]["capture.dcm"]
    assert entry["status"] == "failed"
    assert f"{named} not a whole number" in entry["reason"], entry["reason"]


@pytest.mark.parametrize("keyword", ["NumberOfFrames", "PlanarConfiguration"])
def test_an_empty_pixel_attribute_is_as_if_absent(tmp_path, keyword):
    """The check that names non-numbers failed images with an empty
    NumberOfFrames or PlanarConfiguration, which the decoder reads as absent
    (a review of this change)."""
    folder = tmp_path / "in"
    folder.mkdir()
    _capture_with_surplus(folder / "capture.dcm", b"", "")
    ds = pydicom.dcmread(folder / "capture.dcm")
    setattr(ds, keyword, None)
    ds.save_as(folder / "capture.dcm")
    entry = _run(folder, tmp_path)["files"]["capture.dcm"]
    assert entry["status"] == "written", entry["reason"]


def _loop(frames: int = 6, colour: bool = False) -> np.ndarray:
    """A cine loop: moving speckle, and a caption box that never changes."""
    rng = np.random.default_rng(7)
    shape = (frames, 64, 96, 3) if colour else (frames, 64, 96)
    loop = rng.integers(0, 120, shape, dtype=np.uint8)
    loop[:, 4:16, 10:50] = 0
    loop[:, 7:13, 12:48:3] = 240  # the caption's strokes
    return loop


def test_text_redacted_in_one_frame_is_redacted_where_its_pixels_repeat() -> None:
    from deid.pixels.frame_copies import spread

    for colour in (False, True):
        loop = _loop(colour=colour)
        loop[3, 4:16, 10:50] += 2  # lossy coding: a static caption a level or two off
        loop[5, 4:16, 10:50] = 90  # the caption gone in the last frame
        if colour:
            loop[5, 4:16, 10:50, 0] = loop[1, 4:16, 10:50, 0]  # one channel alike is not enough
        mask = np.zeros(loop.shape[1:3], bool)
        mask[5:15, 11:49] = True
        masks = {1: mask.copy()}
        copies = spread(loop, masks)
        assert sorted(c.frame for c in copies) == [0, 2, 3, 4]
        assert all(c.source == 1 and c.box == (11, 5, 38, 10) for c in copies)
        assert all((masks[f] == mask).all() for f in (0, 2, 3, 4)) and 5 not in masks
        assert spread(loop, masks) == []  # covered already: nothing more


def test_redaction_over_moving_anatomy_stays_in_its_own_frame() -> None:
    from deid.pixels.frame_copies import spread

    loop = _loop()
    mask = np.zeros(loop.shape[1:3], bool)
    mask[30:50, 40:80] = True  # over the speckle, which changes every frame
    masks = {2: mask}
    assert spread(loop, masks) == [] and list(masks) == [2]
    assert spread(loop[:1], {0: mask.copy()}) == []  # one frame: nothing to spread to


def test_a_cine_caption_read_as_a_marker_in_some_frames_is_redacted_in_all(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """OCR reads a static caption differently from frame to frame; the
    frames where it read as allow-listed words kept it, and a scan of the
    output then found it there. The same pixels get the same decision."""
    from deid.pixels import ocr
    from fixtures.burned_in import image_dataset
    from fixtures.scenes import stamp, ultrasound

    rng = np.random.default_rng(3)
    screen, _ = ultrasound(rng, 240, 320)
    assert stamp(screen, "GAIN DEPTH ZOOM", 8, 6, 10, (230, 230, 230))
    loop = np.stack([screen] * 4)
    loop[:, 60:200, 100:220] = rng.integers(0, 200, (4, 140, 120, 3), dtype=np.uint8)
    calls = iter(range(1000))

    def flipping(rgb: np.ndarray, boxes: list) -> list:
        reading = "GAIN DEPTH ZOOM" if next(calls) % 2 == 0 else "GAIN DEPTH Z0QM"
        return [ocr.Reading(reading, 80.0) for _ in boxes]

    monkeypatch.setattr(ocr, "read", flipping)
    ds = image_dataset(loop, "US", image_type=("ORIGINAL", "PRIMARY"))
    outcome = examine(ds, IdentifierSet(), PixelSettings(mode="all"), "loop.dcm")
    caption = [f for f in outcome.findings if f.extra.get("box", [0, 99])[1] < 20]
    assert {f.extra["frame"] for f in caption} == {0, 1, 2, 3}
    assert all(f.action == "redacted" for f in caption)
    assert any(f.message.endswith("the same pixels as in frame 1") for f in caption)
    assert sorted(outcome.masks) == [0, 1, 2, 3]
    assert all(outcome.masks[i][8:14, 10:60].all() for i in range(4))


def test_a_run_output_of_a_real_cine_loop_passes_the_pre_release_scan(tmp_path: Path) -> None:
    """The README's pipeline: run, then `deid scan --fail-on medium` on OUT.
    pydicom's 30-frame ultrasound loop failed it: static captions were kept
    in the frames where OCR read them as allow-listed words."""
    from pydicom.data import get_testdata_file

    (tmp_path / "in").mkdir()
    source = Path(get_testdata_file("examples_ybr_color.dcm"))
    (tmp_path / "in" / "loop.dcm").write_bytes(source.read_bytes())
    deid = str(Path(sys.executable).parent / "deid")
    env = {**os.environ, "DEID_KEY": "0123456789abcdef0123"}
    out, reports = str(tmp_path / "out"), str(tmp_path / "r")
    run = subprocess.run([deid, "run", str(tmp_path / "in"), "-o", out, "--report-dir", reports],
                         capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    scan = subprocess.run([deid, "scan", out, "--fail-on", "medium", "--format", "json",
                           "--no-dataset-risk"], capture_output=True, text=True)
    found = [f for entry in json.loads(scan.stdout)["files"] for f in entry.get("findings", [])
             if f["severity"] not in ("info", "low")]
    assert scan.returncode == 0 and not found, found


def test_bits_above_bits_stored_are_cleared_in_a_run_and_reported_by_a_scan(tmp_path) -> None:
    """A name written in bit 12 of 12-bit pixels (the retired embedded
    overlay) went out byte for byte, the output marked BurnedInAnnotation
    NO: no decoder hands those bits to the text detector."""
    from fixtures.burned_in import image_dataset

    rng = np.random.default_rng(5)
    image = rng.integers(0, 4096, (64, 64)).astype(np.uint16)
    hidden = image.copy()
    hidden[10:20, 5:60] |= 1 << 12  # the "text"
    ds = image_dataset(hidden, "OT")
    ds.BitsStored, ds.HighBit = 12, 11
    (tmp_path / "in").mkdir()
    ds.save_as(tmp_path / "in" / "hidden.dcm", enforce_file_format=True)
    deid = str(Path(sys.executable).parent / "deid")
    env = {**os.environ, "DEID_KEY": "0123456789abcdef0123"}
    args = ["scan", str(tmp_path / "in"), "--format", "json", "--no-dataset-risk"]
    args += ["--pixels", "all"]
    scanned = subprocess.run([deid, *args], capture_output=True, text=True)
    rules = {(f["rule"], f["severity"]) for f in json.loads(scanned.stdout)["files"][0]["findings"]}
    assert ("pixels.unused-bits", "medium") in rules
    out = tmp_path / "out"
    run = subprocess.run([deid, "run", str(tmp_path / "in"), "-o", str(out), "--face", "off"],
                         capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    (written,) = out.rglob("*.dcm")
    pixels = np.frombuffer(pydicom.dcmread(written).PixelData, "<u2").reshape(64, 64)
    assert (pixels == image).all()  # the hidden bits gone, the image's values as they were
    report = json.loads((out / "report.json").read_text())
    assert any(f["rule"] == "pixels.unused-bits" for f in report["files"][0]["findings"])


def test_a_signed_images_sign_in_the_unused_bits_is_its_value_and_is_kept() -> None:
    from deid.pixels import unused_bits
    from fixtures.burned_in import image_dataset

    values = np.array([[-1000, -1, 0, 2047], [-2048, 5, -7, 100]], np.int16)
    for extended in (True, False):  # sign carried into bits 12-15, or those bits left zero
        cells = values.astype(np.uint16) if extended else values.astype(np.uint16) & 0x0FFF
        ds = image_dataset(cells.view(np.int16), "CT")
        ds.BitsStored, ds.HighBit = 12, 11
        before = ds.PixelData
        assert unused_bits.count(ds) == 0 and unused_bits.clear(ds) == 0
        assert ds.PixelData == before
    junk = values.astype(np.uint16)
    junk[0, 2] |= 0x4000  # a zero with bit 14 set: hidden, not a sign
    junk[1, 0] &= 0xBFFF  # a negative value with one of its sign bits cleared
    ds = image_dataset(junk.view(np.int16), "CT")
    ds.BitsStored, ds.HighBit = 12, 11
    assert unused_bits.clear(ds) == 2
    cleaned = np.frombuffer(ds.PixelData, np.int16).reshape(2, 4)
    assert (cleaned == values).all()


def _written_alone(tmp_path: Path, ds: Dataset) -> Dataset:
    """`ds` through a default run alone (CLI), its one output read back."""
    from click.testing import CliRunner

    from deid.cli import main

    (tmp_path / "in").mkdir()
    ds.save_as(tmp_path / "in" / "image.dcm", enforce_file_format=True)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(tmp_path / "in"), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    (written,) = out.rglob("*.dcm")
    return pydicom.dcmread(written)


def test_pixel_data_inside_a_sequence_item_is_removed(tmp_path, env_key) -> None:
    """A picture of a name as PixelData in a Source Image Sequence item went
    out unexamined (only an icon's item holds pixel data by the standard,
    and the profiles remove icons)."""

    from fixtures.burned_in import image_dataset

    ds = image_dataset(np.zeros((32, 32), np.uint8), "OT")
    item = image_dataset(np.full((16, 64), 200, np.uint8), "OT")
    nested = Dataset()
    nested.ReferencedSOPClassUID, nested.ReferencedSOPInstanceUID = ds.SOPClassUID, "1.2.3.4"
    for keyword in ("Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit", "PixelData"):
        setattr(nested, keyword, getattr(item, keyword))
    ds.SourceImageSequence = [nested]
    written = _written_alone(tmp_path, ds)
    assert [e.tag for e in written.iterall() if e.tag == 0x7FE00010] == [0x7FE00010]
    assert "PixelData" not in written.SourceImageSequence[0]
    assert written.PixelData == ds.PixelData


@pytest.mark.parametrize(
    ("shape", "change", "said"),
    [
        ((2, 16, 48, 3), {"PhotometricInterpretation": "MONOCHROME2"},
         "PhotometricInterpretation MONOCHROME2 with SamplesPerPixel 3"),
        ((2, 16, 48), {"PhotometricInterpretation": "RGB"},
         "PhotometricInterpretation RGB with SamplesPerPixel 1"),
        ((2, 16, 48), {"NumberOfFrames": 0}, "NumberOfFrames is 0: an image has at least one"),
    ],
)  # fmt: skip
def test_pixel_attributes_that_disagree_fail_in_words_of_the_standard(
    tmp_path, env_key, shape, change, said
) -> None:
    """OpenCV's channel check ("Bad number of channels ... is 9") was the
    reason given; NumberOfFrames 0 was read as one frame, the second lost as
    surplus, and the output written invalid."""
    from click.testing import CliRunner

    from deid.cli import main
    from fixtures.burned_in import image_dataset

    ds = image_dataset(np.zeros(shape, np.uint8), "US", image_type=("ORIGINAL", "PRIMARY"))
    for keyword, value in change.items():
        setattr(ds, keyword, value)
    (tmp_path / "in").mkdir()
    ds.save_as(tmp_path / "in" / "odd.dcm", enforce_file_format=True)
    result = CliRunner().invoke(main, ["run", str(tmp_path / "in"), "-o", str(tmp_path / "o")])
    assert result.exit_code == 3, result.output
    assert said in result.output and "OpenCV" not in result.output, result.output


def test_an_extended_offset_table_goes_when_redacted_frames_are_re_encoded(tmp_path, env_key):
    """pydicom's compress() writes a new Basic Offset Table and leaves the
    Extended Offset Table: the output kept the input's offsets, and its
    redacted frames could not be decoded (marked BurnedInAnnotation NO)."""
    from pydicom.uid import RLELossless

    from fixtures.burned_in import PERSON, image_dataset
    from fixtures.scenes import stamp

    rng = np.random.default_rng(9)
    loop = rng.integers(0, 60, (3, 128, 320), dtype=np.uint8)
    for frame in loop:
        assert stamp(frame, PERSON["PatientName"].split("^")[0], 6, 6, 12, 255)
    ds = image_dataset(loop, "US", image_type=("ORIGINAL", "PRIMARY"))
    ds.compress(RLELossless, loop, encoding_plugin="pydicom", encapsulate_ext=True,
                generate_instance_uid=False)  # fmt: skip
    assert "ExtendedOffsetTable" in ds
    written = _written_alone(tmp_path, ds)
    assert "ExtendedOffsetTable" not in written and "ExtendedOffsetTableLengths" not in written
    assert written.BurnedInAnnotation == "NO"
    frames = written.pixel_array
    assert frames.shape == loop.shape and (frames != loop).any()  # redacted, and decodable


def _rle_with(extra: str) -> Dataset:
    """An RLE image of two frames, with a name hidden where no decoder reads
    in the second: a fragment more, bytes after its runs, or inside a last
    literal run longer than the image needs (15 rows of 16 take 240 bytes;
    two literal runs of 128 give 16 more)."""
    import struct

    from pydicom.encaps import encapsulate, generate_fragments
    from pydicom.uid import RLELossless

    from fixtures.burned_in import image_dataset

    rng = np.random.default_rng(4)
    loop = rng.integers(0, 30, (2, 15, 16), dtype=np.uint8)
    ds = image_dataset(loop, "OT")
    name = b"CERVANTES 470929"  # 16 bytes
    if extra == "inside":
        plane = loop[1].tobytes()
        segment = b"\x7f" + plane[:128] + b"\x7f" + plane[128:] + name
        second = struct.pack("<16L", 1, 64, *([0] * 14)) + segment
        ds.compress(RLELossless, encoding_plugin="pydicom", generate_instance_uid=False)
        first = list(generate_fragments(ds.PixelData))[1]
        fragments = [first, second]
    else:
        ds.compress(RLELossless, encoding_plugin="pydicom", encapsulate_ext=True,
                    generate_instance_uid=False)  # fmt: skip
        first, second = list(generate_fragments(ds.PixelData))[1:]
        fragments = {
            "fragment": [first, second, name], "tail": [first, second + name],
            "clean": [first, second],
        }[extra]  # fmt: skip
    if extra != "clean":
        ds.PixelData = encapsulate(fragments, has_bot=True)
        ds["PixelData"].is_undefined_length = True
    return ds


@pytest.mark.parametrize("extra", ["fragment", "tail", "inside", "clean"])
def test_rle_pixel_data_keeps_its_frames_data_only(tmp_path, env_key, extra) -> None:
    """A second fragment of text, or text after a segment's data, went out
    byte for byte (no decoder reads it, verification skipped pixel data),
    the output claiming Clean Pixel Data; a scan found nothing."""
    from click.testing import CliRunner

    from deid.cli import main

    ds = _rle_with(extra)
    written = _written_alone(tmp_path, ds)
    assert b"CERVANTES" not in written.PixelData
    assert (written.pixel_array == _rle_with("clean").pixel_array).all()
    if extra == "clean":
        assert written.PixelData == ds.PixelData  # nothing beyond the frames: byte for byte
    else:  # the offsets of the fragments as they were go with them
        assert "ExtendedOffsetTable" not in written
    scanned = CliRunner().invoke(main, ["scan", str(tmp_path / "in"), "--format", "json",
                                        "--no-dataset-risk", "--pixels", "all"])  # fmt: skip
    rules = {f["rule"] for f in json.loads(scanned.output)["files"][0]["findings"]}
    assert ("pixels.surplus-fragments" in rules) == (extra != "clean")


def test_garbled_encapsulation_does_not_fail_the_scan_of_its_file(tmp_path) -> None:
    """Reading the fragments to trim them raised on a garbled item tag: the
    scan then failed the file with no findings, where it had listed its
    header's (the decoder, reading by the Extended Offset Table, even
    decodes this one)."""
    from click.testing import CliRunner

    from deid.cli import main

    ds = _rle_with("clean")
    data = bytearray(ds.PixelData)
    data[8:12] = b"\x01\x02\x03\x04"  # the first fragment's item tag
    ds.PixelData = bytes(data)
    (tmp_path / "in").mkdir()
    ds.save_as(tmp_path / "in" / "bad.dcm", enforce_file_format=True)
    scanned = CliRunner().invoke(main, ["scan", str(tmp_path / "in"), "--format", "json",
                                        "--no-dataset-risk", "--pixels", "all"])  # fmt: skip
    (entry,) = json.loads(scanned.output)["files"]
    rules = {f["rule"] for f in entry["findings"]}
    assert entry["status"] == "scanned" and "header.name" in rules, entry


def test_a_box_spreads_only_over_a_cine_loop_and_only_onto_its_own_pixels() -> None:
    """A bright spot elsewhere set the tolerance (3% of the loop's range):
    slices whose anatomy under a box differed by a tenth of its contrast
    took the box. And the slices of an enhanced CT or MR are other anatomy,
    not moments of one view."""
    from pydicom.dataset import Dataset as Plain

    from deid.pixels.examine import _cine
    from deid.pixels.frame_copies import spread

    pattern = np.tile(np.arange(0, 100, 5, dtype=np.uint16), (10, 2))  # 10 x 40, contrast 95
    loop = np.zeros((3, 64, 64), np.uint16)
    loop[:, 60, 60] = 4095  # a vessel: the loop's range
    loop[0, 5:15, 5:45] = pattern
    loop[1, 5:15, 5:45] = pattern + 10  # a tenth of the area's contrast apart
    loop[2, 5:15, 5:45] = pattern + 1  # the same, lossy
    mask = np.zeros((64, 64), bool)
    mask[5:15, 5:45] = True
    assert sorted(c.frame for c in spread(loop, {0: mask})) == [2]
    cine, slices = Plain(), Plain()
    cine.Modality, slices.Modality = "OT", "MR"
    cine.FrameIncrementPointer = 0x00181063  # FrameTime
    slices.FrameIncrementPointer = 0x00209057  # InStackPositionNumber
    assert _cine(cine) and not _cine(slices)


@pytest.mark.parametrize("hidden", ["after EOI", "comment", "none"])
def test_jpeg_streams_keep_their_images_only(tmp_path, env_key, hidden) -> None:
    """A decoder ignores what follows a JPEG stream's EOI and what its
    comment segments say: a name there went out byte for byte."""
    from pydicom.data import get_testdata_file
    from pydicom.encaps import encapsulate, generate_fragments

    from deid.pixels import jpeg_streams

    ds = pydicom.dcmread(get_testdata_file("SC_rgb_jpeg_gdcm.dcm"))
    (stream,) = list(generate_fragments(ds.PixelData))[1:]
    image = ds.pixel_array.copy()
    name = b"CERVANTES^MIGUEL 19470929"
    comment = b"\xff\xfe" + struct.pack(">H", len(name) + 2) + name
    changed = {
        "after EOI": stream.rstrip(b"\0") + name,
        "comment": stream[:2] + comment + stream[2:],
        "none": stream,
    }[hidden]
    ds.PixelData = encapsulate([changed], has_bot=True)
    ds["PixelData"].is_undefined_length = True
    assert jpeg_streams.trim(ds, write=False) == (hidden != "none")
    written = _written_alone(tmp_path, ds)
    assert b"CERVANTES" not in written.PixelData
    assert (written.pixel_array == image).all()
    if hidden == "none":
        assert written.PixelData == ds.PixelData
