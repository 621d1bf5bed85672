"""Face-reconstruction risk on generated phantoms: the head gate, defacing
evidence, levels, reasons, previews, markers and `deid run --deface`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import RLELossless

from deid import rewrite
from deid.api import deidentify
from deid.dicom_io import read
from deid.errors import UsageError
from deid.face import volume
from deid.face.assess import views
from deid.face.collect import assess_datasets, relevant
from deid.face.geometry import Series, SliceGeometry, descriptive_words, layout
from deid.face.relief import Relief, confirm
from deid.face.thresholds import load
from fixtures.head_phantom import (
    DEFACED,
    HEADS,
    NOT_HEADS,
    PARTS,
    SMOOTHED,
    VARIANTS,
    by_name,
    cranial_cavity,
    unnamed,
    write_series,
)
from tests.helpers import run_settings

KEY = {"DEID_KEY": "face-test-key-0123456789abcdef"}
DEID = str(Path(sys.executable).parent / "deid")

EXPECTED = {
    **{v.name: "high" for v in HEADS},
    **{unnamed(v).name: "high" for v in HEADS},
    **{v.name: "low" for v in DEFACED},
    **{v.name: "medium" for v in SMOOTHED},
    **{v.name: "none" for v in NOT_HEADS},
    "mr-brain-only": "low",
    # Too small or coarse to judge from its images: no claim either way.
    "mr-top-only": "unjudged",
    "ct-thick": "unjudged",
    "mr-sagittal-slab": "medium",
    "mr-chin-to-brow": "medium",
    "mr-chin-to-brow-defaced": "none",
}


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("phantoms")
    for v in VARIANTS + [unnamed(v) for v in HEADS]:
        write_series(root, v)
    return root


def _files(folder: Path, header_only: bool = False) -> list[tuple[pydicom.Dataset, str]]:
    """As `deid run` sees them (read whole, then summarised), or as `deid scan`
    does (headers only: pixels are decoded again when needed)."""
    paths = sorted(folder.glob("*.dcm"))
    if header_only:
        return [(pydicom.dcmread(p, stop_before_pixels=True), str(p)) for p in paths]
    return [(read(p), str(p)) for p in paths]


def _assess(folder: Path, header_only: bool = False):  # noqa: ANN202 - FaceResult
    results = assess_datasets(_files(folder, header_only), load())
    assert len(results) == 1
    return results[0]


@pytest.mark.parametrize(("variant", "level"), sorted(EXPECTED.items()))
def test_levels(phantoms: Path, variant: str, level: str) -> None:
    result = _assess(phantoms / variant)
    assert result.level == level, result.reasons
    assert result.reasons and result.seconds >= 0


def test_an_enhanced_ct_head_is_found_with_its_rescale_in_the_functional_groups(tmp_path):
    # Read at the top level only, the rescale was missing: air counted as
    # 0 HU, the whole field of view as body, and the head was rated low when
    # named (none unnamed), its outputs marked RecognizableVisualFeatures NO.
    variant = replace(unnamed(by_name("ct-head")), name="ct-enhanced", enhanced=True)
    folder = write_series(tmp_path / "in", variant)
    header = pydicom.dcmread(next(folder.glob("*.dcm")), stop_before_pixels=True)
    assert header.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2.1" and "RescaleIntercept" not in header
    assert _assess(folder).level == "high"
    code, report = _run(folder, tmp_path)
    assert code == 1 and [entry["level"] for entry in report["face"]["series"]] == ["high"]
    assert {ds.RecognizableVisualFeatures for ds in _read_all(tmp_path / "out")} == {"YES"}
    # Compressed, its frames are decoded rather than read in place: the
    # rescale comes with them from the same place.
    path = next(folder.glob("*.dcm"))
    ds = pydicom.dcmread(path)
    ds.compress(RLELossless, generate_instance_uid=False)
    ds.save_as(path, enforce_file_format=True)
    assert _assess(folder).level == "high"


@pytest.mark.parametrize(
    ("body_part", "description", "head"),
    [
        ("SCHAEDEL", "", True),
        ("", "Schädel nativ", True),  # UTF-8 bytes read as Latin-1 first
        ("KOPF", "", True),
        ("", "CCT Kopf nativ", True),
        ("CRANE", "", True),
        ("", "TÊTE SANS INJECTION", True),
        ("CABEZA", "", True),
        ("", "CRÁNEO SIMPLE", True),
        ("TESTA", "", True),
        ("HOOFD", "", True),
        ("", "NNH axial", True),
        ("HALS", "", True),
        ("", "MASTOIDS", True),
        ("CHEST", "CCTA coronary", False),
        ("ABDOMEN", "Leber dynamisch", False),
        ("KNEE", "TESTICULAR", False),
    ],
)
def test_head_words_in_other_languages_name_the_head(body_part, description, head):
    # A German or French site's head series was assessed as unnamed: a head
    # its images did not show whole then went unreported, marked NO.
    ds = pydicom.Dataset()
    ds.BodyPartExamined = body_part
    raw = description.encode("utf-8")  # as a UTF-8 file stores it, read raw
    ds[0x0008103E] = pydicom.dataelem.RawDataElement(
        pydicom.tag.Tag(0x0008103E), "LO", len(raw), raw, 0, False, True
    )
    assert load().names_head(descriptive_words(ds)) is head


def test_nineteen_slices_covering_the_face_are_judged(tmp_path):
    # Every third slice from chin to brow of a series named BRAIN: 19 at
    # 7.5 mm, 135 mm, which the coverage and spacing gates pass. The count
    # gate (20) rated it none and its outputs NO; one slice more was medium.
    folder = write_series(tmp_path, by_name("mr-head"))
    for i, path in enumerate(sorted(folder.glob("*.dcm"))):
        if not (i % 3 == 1 and 4 <= i <= 58):
            path.unlink()
    assert len(list(folder.glob("*.dcm"))) == 19
    result = _assess(folder)
    assert result.level in ("medium", "high"), result.reasons


@pytest.mark.parametrize(("lost", "level"), [((40,), "high"), ((30, 31, 60), "high"),
                                            (tuple(range(40, 50)), "unjudged")])
def test_a_head_missing_a_few_slices_is_judged(tmp_path, lost, level):
    # One slice lost in transfer made a gap the layout refused: a high head
    # became unjudged (a low finding, exit 0). A few missing slices are
    # stood in for by a neighbour; a gap of ten is two slabs, not judged.
    folder = write_series(tmp_path, unnamed(by_name("mr-head")))
    paths = sorted(folder.glob("*.dcm"))
    for i in lost:
        paths[i].unlink()
    result = _assess(folder)
    assert result.level == level, result.reasons
    if level == "high":
        assert result.measured["slices_missing"] == len(lost)
        assert result.measured["slices"] == len(paths) - len(lost)
        assert f"{len(lost)} missing slice(s)" in result.reasons[-1]


def _slice(z: float, y: float = 0.0, iop: tuple = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)) -> SliceGeometry:
    return SliceGeometry(f"{z}", "s", "MR", "", 8, 8, 1, iop, (0.0, y, z), (1.0, 1.0))


def test_layout_refuses_what_it_cannot_order_without_failing():
    # A review: one position far out along an oblique normal overflowed the
    # gap arithmetic (a traceback, no report); near-duplicate slices beside
    # gaps took slices off the count of missing ones.
    oblique = (1.0, 0.0, 0.0, 0.0, 0.6, -0.8)
    near = [_slice(z, 0.0, oblique) for z in range(0, 40, 2)]
    for count in (1, 2):  # two far out made a NaN spacing, and a traceback later
        far = near + [_slice(1.7e308, 1.7e308 - i, oblique) for i in range(count)]
        lay = layout(Series("s", "MR", "", far))
        assert not lay.ok and len(lay.problem) < 80, lay
    gaps = [_slice(float(z)) for z in range(0, 200, 2) if z not in (20, 22, 24, 60, 62, 64)]
    lay = layout(Series("s", "MR", "", gaps))
    assert lay.filled == 6
    # Each stand-in is its nearer neighbour, at its own position.
    at = {round(float(p[2])): path for p, (path, _) in zip(lay.positions, lay.order, strict=True)}
    assert (at[20], at[22], at[24]) == ("18.0", "26.0", "26.0")
    crowded = gaps + [_slice(z + 0.2) for z in (30, 40, 50, 70)]
    assert not layout(Series("s", "MR", "", crowded)).ok
    # At 8 mm a missing slice is a 16 mm hole: through a nose, not stood in for.
    thick = [_slice(float(z)) for z in range(0, 200, 8) if z != 96]
    assert not layout(Series("s", "MR", "", thick)).ok


def test_the_count_gate_counts_slices_there_are(tmp_path):
    # 15 slices and one stood in for are 15 slices, under the gate's 16.
    from deid.face.assess import gates

    slices = [_slice(float(z)) for z in range(0, 64, 4) if z != 32]
    series = Series("s", "MR", "HEAD", slices)
    lay = layout(series)
    assert lay.ok and lay.filled == 1
    assert "15 slices (< 16)" in gates(series, lay, load(), True)


def _enhanced_ct(top: object = None, shared: tuple | None = None, frames: list | None = None):
    ds = pydicom.Dataset()
    if top is not None:
        ds.RescaleIntercept = top

    def group(scale: tuple | None) -> pydicom.Dataset:
        item = pydicom.Dataset()
        if scale is not None:
            transform = pydicom.Dataset()
            transform.RescaleSlope, transform.RescaleIntercept = scale
            item.PixelValueTransformationSequence = [transform]
        return item

    ds.SharedFunctionalGroupsSequence = [group(shared)]
    ds.PerFrameFunctionalGroupsSequence = [group(f) for f in frames or [None, None]]
    return ds


def test_rescale_comes_from_where_the_file_keeps_it():
    from deid.face.geometry import frame_rescales, rescale

    # An empty top-level value hid the functional groups' rescale (a review:
    # a head CT rated none, marked NO).
    assert rescale(_enhanced_ct("", shared=(1, -1024))) == (1.0, -1024.0)
    assert rescale(_enhanced_ct(None, frames=[None, (1, -1024)])) == (1.0, 0.0)
    # Frames rescaled differently (usual in Enhanced PET) each their own.
    varied = _enhanced_ct(None, shared=(1, -1024), frames=[None, (10, 0)])
    assert frame_rescales(varied, 2) == [(1.0, -1024.0), (10.0, 0.0)]
    # A NumberOfFrames the file merely claims builds no list that long.
    from deid.face.geometry import scale_of

    claimed = frame_rescales(varied, 2**31 - 1)
    assert len(claimed) == 3 and scale_of(claimed, 10**9) == (1.0, -1024.0)
    unreadable = _enhanced_ct(None, frames=[(2, 7), None])
    unreadable[0x00281052] = pydicom.dataelem.RawDataElement(
        pydicom.tag.Tag(0x00281052), "DS", 2, b"x ", 0, False, True
    )
    assert rescale(unreadable) == (2.0, 7.0)


def test_header_words_are_read_in_bounded_time():
    # A review: a megabyte of U+FDFA in three descriptions of each slice
    # (NFKD makes each 18 characters) took 86 s and 1.65 GB for 20 files.
    import time

    ds = pydicom.Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.StudyDescription = ds.SeriesDescription = ds.ProtocolName = "\ufdfa" * 350_000
    start = time.perf_counter()
    words = descriptive_words(ds)
    assert time.perf_counter() - start < 0.5 and len(words) <= 4096
    undecoded = pydicom.Dataset()  # a long description kept as UN bytes
    undecoded.add(pydicom.DataElement(0x0008103E, "UN", b"CT HEAD "))
    assert descriptive_words(undecoded).strip() == "CT HEAD"


def test_a_series_is_named_by_any_of_its_files(tmp_path):
    # Ten slices: a candidate only when named. Named on its last file, the
    # series was not (its first file's words stood for all of them).
    folder = write_series(tmp_path, unnamed(by_name("mr-head")))
    paths = sorted(folder.glob("*.dcm"))
    for path in paths[10:]:
        path.unlink()
    ds = pydicom.dcmread(paths[9])
    ds.BodyPartExamined = "HEAD"
    ds.save_as(paths[9], enforce_file_format=True)
    result = _assess(folder)
    assert result.level == "unjudged" and result.named and "10 slices" in result.reasons[0]


@pytest.mark.parametrize("named", ["first", "last"])
def test_a_head_named_on_one_file_only_marks_every_file(tmp_path, named):
    # Each file is marked at first from its own words; the series counted
    # as named from its first file, and with it the check for outputs to
    # mark again: a high head kept NO on 99 of its 100 files.
    folder = write_series(tmp_path / "in", unnamed(by_name("mr-head")))
    paths = sorted(folder.glob("*.dcm"))
    path = paths[0] if named == "first" else paths[-1]
    ds = pydicom.dcmread(path)
    ds.BodyPartExamined = "HEAD"
    ds.save_as(path, enforce_file_format=True)
    code, report = _run(folder, tmp_path)
    assert code == 1 and [entry["level"] for entry in report["face"]["series"]] == ["high"]
    marks = [ds.RecognizableVisualFeatures for ds in _read_all(tmp_path / "out")]
    assert len(marks) == len(paths) and set(marks) == {"YES"}


def _read_all(folder: Path) -> list[pydicom.Dataset]:
    return [pydicom.dcmread(p, stop_before_pixels=True) for p in folder.rglob("*.dcm")]


@pytest.mark.parametrize("variant", [v.name for v in HEADS])
def test_heads_are_found_whatever_the_header_says(phantoms: Path, variant: str) -> None:
    """Sequence names only, no body part, in every plane: rated as with a
    header naming the head, from the images."""
    named = _assess(phantoms / variant)
    folder = phantoms / unnamed(by_name(variant)).name
    header = pydicom.dcmread(next(folder.glob("*.dcm")), stop_before_pixels=True)
    assert "BodyPartExamined" not in header and not load().names_head(descriptive_words(header))
    bare = _assess(folder)
    assert bare.measured["header_names_head"] is False and named.measured["header_names_head"]
    assert bare.measured["gate"]["head"] is True
    assert bare.level == named.level == "high"
    gate = bare.measured["gate"]
    assert gate["run_mm"] >= 60 and gate["dome"] and 110 <= gate["width_mm"] <= 215


@pytest.mark.parametrize("variant", [v.name for v in NOT_HEADS])
def test_bodies_that_are_not_heads_are_never_gated_in(phantoms: Path, variant: str) -> None:
    result = _assess(phantoms / variant)
    assert result.level == "none"
    assert result.measured["gate"]["head"] is False
    assert "not a head by its images" in result.reasons[0]


@pytest.mark.parametrize("variant", [v.name for v in PARTS])
def test_part_of_a_head_is_judged_by_the_face_its_render_shows(phantoms: Path, variant: str):
    """A sagittal slab narrower than the head, or chin to brow, unnamed: not
    a whole head to the gate, so they were rated none (and written NO) with
    their faces in them. Now the render decides: a face where a nose stands
    out, none where it was taken away."""
    result = _assess(phantoms / variant)
    assert result.measured["gate"]["head"] is False
    assert result.measured["gate"]["part_run_mm"] >= 60
    assert result.reasons[0].startswith("may be part of a head by its images")
    defaced = variant.endswith("defaced")
    assert (result.level == "none") is defaced, result.reasons
    assert ("no face in its render" in result.reasons[0]) is defaced
    assert (result.cut is None) is defaced  # what --deface would remove


def test_header_only_reading_gives_the_same_answer(phantoms: Path) -> None:
    """`deid scan` reads headers only; the series step decodes the pixels
    itself instead of reading them at the recorded offset."""
    for name in ("mr-sagittal-unnamed", "ct-defaced-padded", "mr-blurred"):
        full, bare = _assess(phantoms / name), _assess(phantoms / name, header_only=True)
        assert (full.level, full.measured["nose_mm"]) == (bare.level, bare.measured["nose_mm"])


@pytest.mark.parametrize("variant", [v.name for v in DEFACED])
def test_defaced_faces_are_low_with_their_evidence(phantoms: Path, variant: str) -> None:
    v = by_name(variant)
    result = _assess(phantoms / variant)
    why = " ".join(result.reasons)
    assert result.level == "low" and "no face left (defaced" in why
    assert result.measured["nose_mm"] < load().nose_relief_mm
    if v.deface == "plane":
        assert "planar cut" in why and result.measured["planar_share"] >= 0.5
    if v.deface in ("zero", "background", "plane") and v.air == "noise":
        # Whatever the fill value is (0, the air's own value, next to scanner padding).
        assert "one exact value" in why
        assert result.measured["fill_front"] > 0.5 > result.measured["fill_back"]
    if v.air == "zero" or v.deface == "noise":
        assert "one exact value" not in why  # no fill to see: the relief says it


def test_fill_is_not_taken_for_defacing_when_the_whole_background_is_constant(
    phantoms: Path,
) -> None:
    result = _assess(phantoms / "mr-defaced-zero-air")
    assert result.measured["fill_front"] > 0.9 and result.measured["fill_back"] > 0.9


@pytest.mark.parametrize(("variant", "kind"), [
    ("mr-blurred", "blurred"), ("ct-blurred", "blurred"), ("mr-average-face", "replaced"),
])  # fmt: skip
def test_smoothed_or_replaced_faces_are_medium_with_that_reason(
    phantoms: Path, variant: str, kind: str
) -> None:
    result = _assess(phantoms / variant)
    assert result.level == "medium"
    why = result.reasons[0]
    assert f"face {kind}" in why and "not the patient's own detail" in why
    assert result.measured["nose_mm"] >= load().nose_relief_mm  # still a face


def test_detections_count_only_with_facial_relief(phantoms: Path) -> None:
    """A box in front of a flat cut is not a face; one around a nose and two
    eye hollows is."""
    t = load()
    slices = [SliceGeometry.from_dataset(ds, p) for ds, p in _files(phantoms / "mr-head")]
    lay = layout(Series("s", "MR", "", slices))
    v = views(volume.read(lay, t.render_mm), "MR", t)
    row, col = v.face.nose
    box = (col - 50, row - 60, 100, 100)
    shown = confirm(box, v.relief, t)
    assert shown is not None and shown["nose_mm"] >= t.nose_relief_mm and shown["orbits_mm"] > 0
    flat = replace(v.front, depth=np.where(np.isfinite(v.front.depth), -80.0, np.nan))
    assert confirm(box, Relief.of(flat, t), t) is None
    result = _assess(phantoms / "mr-head")
    assert result.measured["confirmed"] >= 1 and "confirmed by facial relief" in result.reasons[0]


def test_reasons_say_why(phantoms: Path) -> None:
    thick = _assess(phantoms / "ct-thick")
    assert "slice spacing 10.0 mm" in thick.reasons[0]
    top = _assess(phantoms / "mr-top-only")
    assert "head-foot coverage" in top.reasons[0]
    brain = _assess(phantoms / "mr-brain-only")
    assert "no facial relief" in brain.reasons[0]


def test_head_series_with_broken_geometry_is_medium_not_silent(
    phantoms: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "broken"
    shutil.copytree(phantoms / "mr-head", folder)
    victim = sorted(folder.glob("*.dcm"))[10]
    ds = pydicom.dcmread(victim)
    del ds.ImagePositionPatient
    ds.save_as(victim)
    result = _assess(folder)
    assert result.level == "medium"
    assert "geometry" in result.reasons[0]
    # The same without a header naming the head: said, not judged, not silent.
    for path in folder.glob("*.dcm"):
        ds = pydicom.dcmread(path)
        del ds.BodyPartExamined
        ds.SeriesDescription = "t1_mprage_sag"
        ds.save_as(path)
    result = _assess(folder)
    assert result.level == "unjudged" and "content not judged" in result.reasons[0]
    # Too few images to judge: listed, unjudged, claiming nothing (it was
    # passed over, its outputs marked NO unexamined).
    for extra in sorted(folder.glob("*.dcm"))[15:]:
        extra.unlink()
    (tiny,) = assess_datasets(_files(folder), load())
    assert tiny.level == "unjudged" and "15 images" in tiny.reasons[0]


def test_a_series_too_small_to_judge_claims_no_face_absent(phantoms: Path, tmp_path: Path) -> None:
    """Ten slices of an unnamed head were passed over in silence and written
    RecognizableVisualFeatures NO, their images never looked at. They are
    reported unjudged (a low finding) and the marker is not written."""
    folder = tmp_path / "in"
    shutil.copytree(phantoms / unnamed(by_name("mr-head")).name, folder)
    for extra in sorted(folder.glob("*.dcm"))[10:]:
        extra.unlink()
    _, report = _run(folder, tmp_path, "--pixels", "off")
    assert [e["level"] for e in report["face"]["series"]] == ["unjudged"]
    outputs = _read_all(tmp_path / "out")
    assert len(outputs) == 10
    assert not any("RecognizableVisualFeatures" in ds for ds in outputs)


def test_thresholds_are_data(phantoms: Path, tmp_path: Path) -> None:
    strict = tmp_path / "strict.toml"
    strict.write_text("[gates]\nmin_slices = 500\n")
    result = assess_datasets(_files(phantoms / "mr-head"), load(strict))[0]
    assert result.level == "unjudged" and "slices" in result.reasons[0]
    noses = tmp_path / "noses.toml"
    noses.write_text("[relief]\nnose_relief_mm = 40.0\n")
    result = assess_datasets(_files(phantoms / "mr-head"), load(noses))[0]
    assert result.level == "low" and "(< 40)" in result.reasons[0]
    for text, word in [
        ("[gates]\nmin_slicez = 5\n", "min_slicez"),
        ('[head]\nhead_width_mm = "wide"\n', "head_width_mm"),
        ("[head]\nhead_width_mm = [200.0, 100.0]\n", "head_width_mm"),
        ('[relief]\nnose_relief_mm = "12"\n', "nose_relief_mm"),
        ("[gates]\nmin_slices = 2.5\n", "min_slices"),
    ]:
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        with pytest.raises(UsageError, match=word):
            load(bad)


def _run(inputs: Path, out: Path, *extra: str) -> tuple[int, dict]:
    done = subprocess.run(
        [DEID, "run", str(inputs), "-o", str(out / "out"), "--report-dir", str(out / "rep"),
         "-q", *extra],
        capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", **KEY},
    )  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode, json.loads((out / "rep" / "report.json").read_text())


def _outputs(folder: Path) -> dict[tuple, pydicom.Dataset]:
    """Output slices by (modality, orientation, position): their inputs' keys too."""
    found = {}
    for path in folder.rglob("*.dcm"):
        ds = pydicom.dcmread(path)
        found[_slice_key(ds)] = ds
    return found


def _slice_key(ds: pydicom.Dataset) -> tuple:
    position = tuple(round(float(v), 3) for v in ds.ImagePositionPatient)
    return ds.Modality, tuple(float(v) for v in ds.ImageOrientationPatient), position


def _patient_points(ds: pydicom.Dataset) -> tuple[np.ndarray, ...]:
    iop = np.array(ds.ImageOrientationPatient, float)
    spacing = [float(v) for v in ds.PixelSpacing]
    origin = np.array(ds.ImagePositionPatient, float)
    r = np.arange(ds.Rows)[:, None] * spacing[0]
    c = np.arange(ds.Columns)[None, :] * spacing[1]
    return tuple(origin[k] + c * iop[k] + r * iop[3 + k] for k in range(3))


# The CT heads have a low anterior cranial fossa (brain 11 mm up, where the
# defacing box would reach): the skull must move the cut under it.
ROOFS = {"CT": 8.0, "MR": 28.0}
PLANE_HEADS = [
    replace(by_name(base), name=f"{base}-{plane}", plane=plane, slice_mm=2.0, roof=ROOFS[mod])
    for mod, base in (("CT", "ct-head"), ("MR", "mr-head"))
    for plane in ("axial", "sagittal", "coronal", "oblique")
]


def test_deface_removes_the_face_in_every_plane_and_never_the_brain(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    for v in PLANE_HEADS:
        write_series(inputs, unnamed(v) if v.plane == "coronal" else v)
    code, report = _run(
        inputs, tmp_path, "--deface", "--option", "clean-recognizable-visual-features"
    )
    entries = report["face"]["series"]
    assert len(entries) == len(PLANE_HEADS)
    t = load()
    for entry in entries:
        deface = entry["deface"]
        assert entry["level"] == "low" and deface["level_before"] == "high", entry["reasons"]
        assert deface["level_after"] == "low" and entry["reasons"][0].startswith("defaced by deid")
        assert 0.02 < deface["voxels_removed_share"] < 0.2
        assert deface["measured_after"]["nose_mm"] < t.nose_relief_mm  # the relief is gone
        lowered = deface["top_lowered_for_brain"]
        assert lowered == (entry["measured"]["gate"].get("skull_ring_bands") is not None)
    assert code == 0  # nothing at or above high is left
    before = {_slice_key(ds): ds for ds in (pydicom.dcmread(p) for p in inputs.rglob("*.dcm"))}
    outputs = _outputs(tmp_path / "out")
    assert outputs.keys() == before.keys()
    changed = 0
    for key, ds in outputs.items():
        diff = ds.pixel_array != before[key].pixel_array
        cavity = cranial_cavity(*_patient_points(ds), roof=ROOFS[ds.Modality])
        assert not (diff & cavity).any(), key
        changed += int(diff.sum())
        codes = {item.CodeValue for item in ds.DeidentificationMethodCodeSequence}
        assert ds.RecognizableVisualFeatures == "NO" and "113102" in codes
        assert ds.file_meta.TransferSyntaxUID == before[key].file_meta.TransferSyntaxUID
    assert changed > 0


def test_deface_keeps_a_lossless_transfer_syntax_and_previews_before_and_after(
    phantoms: Path, tmp_path: Path
) -> None:
    inputs = tmp_path / "in" / "rle"
    inputs.mkdir(parents=True)
    for path in sorted((phantoms / "mr-sagittal-unnamed").glob("*.dcm")):
        ds = pydicom.dcmread(path)
        ds.compress(RLELossless, generate_instance_uid=False)
        ds.save_as(inputs / path.name)
    previews = tmp_path / "previews"
    _, report = _run(tmp_path / "in", tmp_path, "--deface", "--face-previews", str(previews))
    (entry,) = report["face"]["series"]
    assert entry["level"] == "low" and entry["deface"]["level_before"] == "high"
    assert Path(entry["preview"]).parent == previews
    assert Path(entry["preview_after"]).parent == previews
    assert entry["preview"] != entry["preview_after"]
    for ds in _outputs(tmp_path / "out").values():
        assert ds.file_meta.TransferSyntaxUID == RLELossless


def test_markers_follow_the_series_result(
    phantoms: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rewritten: list[Path] = []
    write = rewrite.atomic_write
    monkeypatch.setattr(
        rewrite, "atomic_write", lambda p, d, **kw: (rewritten.append(p), write(p, d, **kw))
    )
    inputs = tmp_path / "in"
    for name in ("ct-head", "mr-defaced", "ct-abdomen", "mr-sagittal-unnamed"):
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
    assert levels == ["high", "high", "low", "none"]
    assert outcome.exit_code == 1  # a high face risk fails the default --fail-on high
    assert any(f["rule"] == "face.reconstruction-risk" for f in report["dataset_findings"])
    for entry in report["face"]["series"]:
        assert entry["series"].startswith("2.25.")  # the pseudonymised UID
        if "preview" in entry:
            assert Path(entry["preview"]).parent == previews
    assert not list(out.rglob("*.png"))
    assert len(list(previews.glob("*.png"))) == 3  # the abdomen is not rendered
    by_series: dict[str, set] = {}
    for path in out.rglob("*.dcm"):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        codes = tuple(i.CodeValue for i in ds.DeidentificationMethodCodeSequence)
        claim = "113102" in codes
        assert claim == ("option clean-recognizable-visual-features" in ds.DeidentificationMethod)
        key = f"{ds.Modality}:{ds.RecognizableVisualFeatures}:{claim}"
        by_series.setdefault(path.parent.name, set()).add(key)
    assert sorted(map(tuple, by_series.values())) == sorted(
        [("CT:NO:True",), ("CT:YES:False",), ("MR:NO:True",), ("MR:YES:False",)]
    )
    # Written at once as the header suggests; rewritten only where the images
    # said otherwise: the defaced MR (named, face-free) and the unnamed head
    # (its claim withdrawn).
    again = len(list((inputs / "mr-defaced").glob("*.dcm")))
    again += len(list((inputs / "mr-sagittal-unnamed").glob("*.dcm")))
    assert len(rewritten) == again


def test_previews_are_named_by_a_keyed_reference_never_by_a_uid(
    phantoms: Path, tmp_path: Path
) -> None:
    """A UID is input: one holding '/../../' wrote a scan's render outside
    --face-previews, and a UID kept by retain-uids named the run's."""
    source = tmp_path / "in" / "s"
    source.mkdir(parents=True)
    hostile = "1.2.826.0.1.3680043.9/../../escaped"
    for path in sorted((phantoms / "mr-head").glob("*.dcm")):
        ds = pydicom.dcmread(path)
        ds.SeriesInstanceUID = hostile
        ds.save_as(source / path.name)
    previews = tmp_path / "a" / "b" / "previews"
    scan = subprocess.run(
        [DEID, "scan", str(tmp_path / "in"), "--format", "json", "--no-dataset-risk",
         "--face-previews", str(previews)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert [e["level"] for e in json.loads(scan.stdout)["face"]["series"]] == ["high"]
    pngs = sorted(tmp_path.rglob("*.png"))
    assert len(pngs) == 1 and pngs[0].parent == previews and "escaped" not in pngs[0].name
    # retain-uids: the series UID in the output (and the report) is the original.
    kept = tmp_path / "run-previews"
    _, report = _run(phantoms / "mr-head", tmp_path / "r", "--option", "retain-uids",
                     "--face-previews", str(kept))  # fmt: skip
    original = str(pydicom.dcmread(next((phantoms / "mr-head").glob("*.dcm"))).SeriesInstanceUID)
    assert report["face"]["series"][0]["series"] == original
    (png,) = kept.glob("*.png")
    assert original[-8:] not in png.name and original.split(".")[-1] not in png.name


def test_previews_inside_the_output_are_refused(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    out = tmp_path / "out"
    done = subprocess.run(
        [DEID, "run", str(tmp_path / "in"), "-o", str(out), "--face-previews", str(out / "p")],
        capture_output=True,
        text=True,
        env={"PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin", **KEY},
    )
    assert done.returncode == 2
    assert "face renders are face images" in done.stderr and "Traceback" not in done.stderr


def test_deface_needs_the_face_check(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    with pytest.raises(UsageError, match="--deface needs --face auto"):
        run_settings(
            inputs=[tmp_path / "in"], output=tmp_path / "o", face="off", deface=True, environ=KEY
        )


def test_scan_rates_head_series_read_only(phantoms: Path) -> None:
    target = phantoms / "mr-head-unnamed"
    before = {p: p.read_bytes() for p in target.glob("*.dcm")}
    done = subprocess.run(
        [DEID, "scan", str(target), "--format", "json", "--no-dataset-risk"],
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


def test_series_judged_in_threads_give_the_serial_answers_in_order(phantoms: Path) -> None:
    """`deid run -j N` judges head series in N threads: the same results, in
    the same (series key) order, as one at a time."""
    from deid.face.collect import SeriesCollector

    thresholds = load()
    filters = list(warnings.filters)
    with SeriesCollector(thresholds, name_key=b"k" * 32) as collector:
        for folder in sorted(p for p in phantoms.iterdir() if p.is_dir()):
            for ds, path in _files(folder):
                if relevant(ds, thresholds):
                    collector.add(SliceGeometry.from_dataset(ds, path))
        serial = [(r.series, r.ref, r.level, r.reasons) for r, _ in collector.assess(threads=1)]
        threaded = [(r.series, r.ref, r.level, r.reasons) for r, _ in collector.assess(threads=2)]
    assert len(serial) >= 10
    assert threaded == serial
    assert warnings.filters == filters  # the threads' filter changes do not outlive them


def _imaged_twice(source: Path, folder: Path, every: int = 1) -> None:
    """Each (every-th) position imaged a second time, as a second echo."""
    folder.mkdir()
    for i, path in enumerate(sorted(source.glob("*.dcm"))):
        ds = pydicom.dcmread(path)
        ds.save_as(folder / f"e1-{i:04d}.dcm")
        if i % every == 0:
            ds.SOPInstanceUID = pydicom.uid.generate_uid()
            ds.EchoTime, ds.EchoNumbers = 90, 2
            ds.save_as(folder / f"e2-{i:04d}.dcm")


def test_a_stack_imaged_twice_is_judged_on_one_image_per_position(
    phantoms: Path, tmp_path: Path
) -> None:
    # Dual-echo (fMRI, DWI) heads: "two slices at the same position" left the
    # content unjudged, and its outputs were written RecognizableVisualFeatures NO.
    _imaged_twice(phantoms / "mr-head-unnamed", tmp_path / "dual")
    assert _assess(tmp_path / "dual").level == "high"


def test_a_series_not_judged_claims_no_marker_either_way(phantoms: Path, tmp_path: Path) -> None:
    # Positions repeated unevenly: no order, the header does not name the
    # head. Its outputs must not say NO (nor claim option 113102).
    _imaged_twice(phantoms / "mr-head-unnamed", tmp_path / "in", every=3)
    out, reports = tmp_path / "out", tmp_path / "reports"
    settings = run_settings(
        inputs=[tmp_path / "in"], output=out, report_dir=reports, jobs=1, environ=KEY,
        options=["clean-recognizable-visual-features"], pixels="off",
    )  # fmt: skip
    deidentify([tmp_path / "in"], settings)
    report = json.loads((reports / "report.json").read_text())
    assert [e["level"] for e in report["face"]["series"]] == ["unjudged"]
    for path in out.rglob("*.dcm"):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        assert "RecognizableVisualFeatures" not in ds
        assert "113102" not in [i.CodeValue for i in ds.DeidentificationMethodCodeSequence]


def test_heads_judged_beside_the_pixel_step_give_the_one_job_answers(
    phantoms: Path, tmp_path: Path
) -> None:
    """With several jobs the face check judges head series while the pixel
    step examines its samples and redacts a series with a banner (its own
    workers forked meanwhile). The outputs, face levels and pixel findings
    are those of a one-job run, and the warning filters are as before."""
    from fixtures.burned_in import text_series, write_images

    inputs = tmp_path / "in"
    for name in ("ct-head", "mr-defaced"):
        shutil.copytree(phantoms / name, inputs / name)
    banner = text_series("ct-text-a", "J2K_pixelrep_mismatch.dcm", "CT", 6, 1, "corner")
    write_images(inputs / "banner", banner, {})
    filters = list(warnings.filters)
    runs = []
    for jobs in (1, 2):
        out, reports = tmp_path / f"out{jobs}", tmp_path / f"reports{jobs}"
        settings = run_settings(
            inputs=[inputs], output=out, report_dir=reports, jobs=jobs, environ=KEY
        )
        deidentify([inputs], settings)
        report = json.loads((reports / "report.json").read_text())
        faces = [(e["series"], e["level"], e["reasons"]) for e in report["face"]["series"]]
        files = {
            e["input"]: (e["summary"].get("pixels"), sorted(f["rule"] for f in e["findings"]))
            for e in report["files"]
        }
        outputs = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*.dcm"))}
        runs.append((faces, files, outputs))
        assert warnings.filters == filters
    (faces, files, outputs), threaded = runs
    # The six-slice banner series is too small to judge: listed, no claim.
    assert sorted(level for _, level, _ in faces) == ["high", "low", "unjudged"]
    assert sum("pixels.series-text" in rules for _, rules in files.values()) == 1
    assert threaded == runs[0]
