"""`deid run` end to end, on the identified corpus built by fixtures/."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pydicom
import pytest
from click.testing import CliRunner

from deid.cli import main
from deid.profiles import load_profile

PROFILES = ["basic", "hipaa-safe-harbor", "gdpr-pseudonymise", "gdpr-anonymise", "tcia"]

# Attributes science needs: never changed by any shipped profile.
RETAINED = [
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "PhotometricInterpretation",
    "SamplesPerPixel",
    "PixelSpacing",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "SliceThickness",
    "RescaleIntercept",
    "RescaleSlope",
    "KVP",
    "RepetitionTime",
    "EchoTime",
    "Modality",
    "SOPClassUID",
    "PixelData",
    "Manufacturer",
    "ImageType",
]


def run_cli(*args: str, env: dict[str, str] | None = None):
    runner = CliRunner()
    return runner.invoke(main, list(args), env=env, catch_exceptions=False)


def hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def outputs(root: Path) -> list[Path]:
    return sorted(root.rglob("*.dcm"))


@pytest.fixture(scope="module")
def runs(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each shipped profile run once over the identified corpus (2 workers)."""
    done = {}
    before = hashes(corpus)
    for profile in PROFILES:
        base = tmp_path_factory.mktemp(profile)
        args = [
            "run",
            str(corpus / "input"),
            "-o",
            str(base / "out"),
            "--profile",
            profile,
            "-j",
            "2",
            "-q",
        ]
        if profile != "gdpr-anonymise":
            args += ["--mapping-dir", str(base / "linkage")]
        result = run_cli(*args, env={"DEID_KEY": "test-key-0123456789abcdef"})
        assert result.exit_code == 0, result.output
        done[profile] = base
    assert hashes(corpus) == before, "inputs were modified"
    return done


def by_source_sop(manifest: dict, out: Path) -> dict[str, pydicom.Dataset]:
    """Outputs keyed by the input's SOP Instance UID (through the UID map)."""
    mapping = {}
    linkage = out.parent / "linkage" / "uid_mapping.csv"
    with linkage.open() as fh:
        for row in csv.DictReader(fh):
            mapping[row["id_new"]] = row["id_old"]
    found = {}
    for path in outputs(out):
        ds = pydicom.dcmread(path)
        found[mapping[str(ds.SOPInstanceUID)]] = ds
    return found


@pytest.mark.parametrize("profile", PROFILES)
def test_no_planted_identifier_survives_anywhere(runs, manifest, profile):
    out = runs[profile] / "out"
    files = outputs(out)
    assert len(files) == len(manifest["files"]) + 1  # + the headerless file
    planted = {v.lower().encode() for values in manifest["planted"].values() for v in values}
    for path in files:
        raw = path.read_bytes().lower()
        leaked = [v for v in planted if v in raw]
        assert not leaked, f"{path}: {leaked}"
    # File names and folders hold pseudonyms only.
    for path in out.rglob("*"):
        for value in planted:
            assert value.decode() not in str(path.relative_to(out)).lower()
    # The report never carries original UIDs or planted values.
    report = (out / "report.json").read_bytes().lower()
    assert not [v for v in planted if v in report]
    assert not [u for u in manifest["uids"] if u.encode() in report]


@pytest.mark.parametrize("profile", PROFILES)
def test_markers_layout_and_meta(runs, corpus, profile):
    out = runs[profile] / "out"
    for path in outputs(out):
        ds = pydicom.dcmread(path)
        assert ds.PatientIdentityRemoved == "YES"
        codes = [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]
        assert codes[0] == "113100"
        assert ds.SOPInstanceUID == ds.file_meta.MediaStorageSOPInstanceUID
        assert "SourceApplicationEntityTitle" not in ds.file_meta
        assert "PrivateInformation" not in ds.file_meta
        rel = path.relative_to(out).parts
        assert rel[1] == ds.StudyInstanceUID and rel[2] == ds.SeriesInstanceUID
        assert rel[3] == f"{ds.SOPInstanceUID}.dcm"
        assert ds.PatientID == rel[0], "PatientID is the patient's keyed pseudonym"
        assert all(uid.startswith("2.25.") for uid in rel[1:3])
        private = [t for t in ds.keys() if t.is_private and not t.is_private_creator]
        if profile == "tcia":  # Retain Safe Private: only the listed ones
            safe = load_profile("tcia").resolve().safe_private
            assert all(any(g == t.group and e == t.element & 0xFF for g, e, _ in safe)
                       for t in private), private
        else:
            assert not private, "private tags survived"
        assert not any(t.group & 0xFF00 == 0x6000 for t in ds.keys()), "overlay survived"
        expected = {"basic": "REMOVED"}.get(profile, "MODIFIED")
        assert ds.LongitudinalTemporalInformationModified == expected
    if profile == "gdpr-pseudonymise":
        method = " ".join(pydicom.dcmread(outputs(out)[0]).DeidentificationMethod)
        assert "PSEUDONYMISED" in method


# gdpr-anonymise writes no UID mapping, so its outputs cannot be paired with inputs.
@pytest.mark.parametrize("profile", [p for p in PROFILES if p != "gdpr-anonymise"])
def test_science_attributes_and_transfer_syntax_are_identical(runs, corpus, manifest, profile):
    found = by_source_sop(manifest, runs[profile] / "out")
    for entry in manifest["files"]:
        src = pydicom.dcmread(corpus / entry["path"])
        out = found[entry["sop_uid"]]
        assert out.file_meta.TransferSyntaxUID == src.file_meta.TransferSyntaxUID
        for keyword in RETAINED:
            if keyword in src:
                assert keyword in out, keyword
                assert out[keyword].value == src[keyword].value, keyword


def test_uid_structure_and_references_are_kept(runs, manifest):
    out = runs["basic"] / "out"
    found = by_source_sop(manifest, out)
    studies = {(e["study_uid"], found[e["sop_uid"]].StudyInstanceUID) for e in manifest["files"]}
    assert len({a for a, _ in studies}) == len({b for _, b in studies}) == len(studies)
    series = {(e["series_uid"], found[e["sop_uid"]].SeriesInstanceUID) for e in manifest["files"]}
    assert len({a for a, _ in series}) == len(series)
    patients = {(e["patient"], found[e["sop_uid"]].PatientID) for e in manifest["files"]}
    assert len(patients) == len({p for p, _ in patients}) == len({q for _, q in patients}) == 3
    by_new_sop = {str(ds.SOPInstanceUID): ds for ds in found.values()}
    checked = 0
    for entry in manifest["files"]:
        ds = found[entry["sop_uid"]]
        previous = ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID
        if ds.InstanceNumber > 1:
            target = by_new_sop[previous]  # the reference points at the mapped slice
            assert target.SeriesInstanceUID == ds.SeriesInstanceUID
            assert target.InstanceNumber == ds.InstanceNumber - 1
            checked += 1
    assert checked == len(manifest["files"]) * 2 // 3


def test_same_key_same_bytes_other_key_other_uids(runs, corpus, tmp_path):
    first = hashes(runs["basic"] / "out")
    again = tmp_path / "again"
    result = run_cli(
        "run",
        str(corpus / "input"),
        "-o",
        str(again),
        "-j",
        "1",
        "-q",
        env={"DEID_KEY": "test-key-0123456789abcdef"},
    )
    assert result.exit_code == 0
    second = hashes(again)
    dicoms = {k: v for k, v in first.items() if k.endswith(".dcm")}
    assert dicoms == {k: v for k, v in second.items() if k.endswith(".dcm")}
    other = tmp_path / "other"
    run_cli(
        "run",
        str(corpus / "input"),
        "-o",
        str(other),
        "-q",
        env={"DEID_KEY": "another-key-0123456789"},
    )
    assert not set(dicoms) & {k for k in hashes(other) if k.endswith(".dcm")}


def test_the_key_appears_nowhere(runs):
    key = b"test-key-0123456789abcdef"
    for base in runs.values():
        for path in base.rglob("*"):
            if path.is_file():
                assert key not in path.read_bytes(), path


def test_linkage_tables(runs, manifest):
    base = runs["gdpr-pseudonymise"]
    with (base / "linkage" / "patid_mapping.csv").open() as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["id_old", "id_new"]
    patients = dict(rows[1:])
    assert set(manifest["planted"]) <= set(patients)
    with (base / "linkage" / "uid_mapping.csv").open() as fh:
        uids = dict(list(csv.reader(fh))[1:])
    assert set(manifest["uids"]) <= set(uids)
    for path in outputs(base / "out"):
        ds = pydicom.dcmread(path)
        assert ds.PatientID in patients.values()
        assert path.relative_to(base / "out").parts[0] == ds.PatientID
    assert not list((base / "out").rglob("*mapping*"))


def test_gdpr_pseudonymise_keeps_intervals_per_patient(runs, manifest, corpus):
    found = by_source_sop(manifest, runs["gdpr-pseudonymise"] / "out")
    per_patient: dict[str, set] = {}
    for entry in manifest["files"]:
        src = pydicom.dcmread(corpus / entry["path"], stop_before_pixels=True)
        out = found[entry["sop_uid"]]
        d_in = date.fromisoformat(_iso(src.StudyDate))
        d_out = date.fromisoformat(_iso(out.StudyDate))
        per_patient.setdefault(entry["patient"], set()).add((d_out - d_in).days)
        birth_in = date.fromisoformat(_iso(src.PatientBirthDate))
        birth_out = date.fromisoformat(_iso(out.PatientBirthDate))
        assert (d_in - birth_in) == (d_out - birth_out), "age at study must be exact"
        assert out.PatientName.family_name == out.PatientID
    offsets = [next(iter(s)) for s in per_patient.values()]
    assert all(len(s) == 1 for s in per_patient.values()), "one offset per patient"
    assert all(o < 0 for o in offsets) and len(set(offsets)) > 1


def _iso(da: str) -> str:
    return f"{da[:4]}-{da[4:6]}-{da[6:8]}"


def test_hipaa_years_ages_and_zip(runs, manifest, corpus):
    out = runs["hipaa-safe-harbor"] / "out"
    ages = set()
    for path in outputs(out):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        assert ds.StudyDate.endswith("0101")
        ages.add((ds.PatientAge, ds.get("PatientBirthDate", "")))
        assert ds.get("PatientAddress", "") in ("627", "011", "100", "")
    assert ("090Y", "") in ages, "the 93-year-old is 90+ with no birth year"
    assert ("057Y", "19650101") in ages


def test_gdpr_anonymise_bands(runs):
    out = runs["gdpr-anonymise"] / "out"
    ages = {pydicom.dcmread(p, stop_before_pixels=True).PatientAge for p in outputs(out)}
    assert ages <= {"055Y", "050Y", "090Y", "045Y", "000Y"} and "055Y" in ages


def test_report_inside_output_names_inputs_by_keyed_reference(runs, corpus):
    report = json.loads((runs["basic"] / "out" / "report.json").read_text())
    names = [f["input"] for f in report["files"]]
    assert all(n.startswith("input-") for n in names)
    assert str(corpus) not in json.dumps(report)
    journal = b"".join(p.read_bytes() for p in (runs["basic"] / "out").glob(".deid-journal*"))
    assert journal and str(corpus).encode() not in journal
    assert b"quixote" not in journal.lower()


def test_run_writes_every_report_view(runs):
    out = runs["basic"] / "out"
    for name in ("report.json", "findings.csv", "report.sarif", "report.html"):
        assert (out / name).is_file(), name
    assert "deid run report" in (out / "report.html").read_text()


def test_report_lists_actions_per_file(runs):
    report = json.loads((runs["basic"] / "out" / "report.json").read_text())
    assert report["schema"].startswith("deid-report/")
    assert report["totals"]["by_status"] == {"written": report["totals"]["files"]}
    assert len(report["change_sets"]) < len(report["files"]), "change sets are shared"
    for entry in report["files"]:
        paths = {c["path"]: c for c in report["change_sets"][entry["changes"]]}
        assert paths["PatientName"]["code"] == "Z"
        assert entry["actions"]["remove"] > 0 and entry["actions"]["keep"] > 0
    nested = paths["ReferencedImageSequence[0].ReferencedSOPInstanceUID"]
    assert nested["action"] == "uid" and nested["code"] == "U"
    assert paths["RequestAttributesSequence"]["action"] == "remove"
    assert "key" in report and "test-key" not in json.dumps(report)


def test_resume_skips_finished_files_and_cleans_temporaries(corpus, tmp_path, env_key):
    out = tmp_path / "out"
    assert run_cli("run", str(corpus / "input"), "-o", str(out), "-q", "-j", "1").exit_code == 0
    first_report = json.loads((out / "report.json").read_text())
    files = outputs(out)
    victim = files[3]
    victim.unlink()
    stale = files[0].with_name(f".{files[0].name}.999.deid-tmp")
    stale.write_bytes(b"half a file")
    untouched = files[5]
    mtime = untouched.stat().st_mtime_ns
    # A power loss can leave a renamed output shorter than it should be.
    cut = files[7]
    good_bytes = cut.read_bytes()
    cut.write_bytes(good_bytes[: len(good_bytes) // 2])
    result = run_cli("run", str(corpus / "input"), "-o", str(out), "-q", "-j", "1")
    assert result.exit_code == 0, result.output
    assert victim.exists() and not stale.exists()
    assert cut.read_bytes() == good_bytes, "a cut output must be redone"
    assert untouched.stat().st_mtime_ns == mtime, "finished file was redone"
    report = json.loads((out / "report.json").read_text())
    assert report["totals"]["files"] == len(files)
    # Said, not only seen in unchanged modification times: all but the two redone.
    assert first_report["totals"]["resumed"] == 0
    assert report["totals"]["resumed"] == len(files) - 2
    said = run_cli("run", str(corpus / "input"), "-o", str(out), "-j", "1")
    assert f"resumed: {len(files)} of them finished by an earlier run" in said.output
    assert "(not processed again)" in said.output
    # Resumed files come back from the journal exactly as first reported.
    assert report["files"] == first_report["files"]
    assert report["change_sets"] == first_report["change_sets"]


def test_queued_inputs_are_read_ahead_once(corpus, tmp_path, env_key, monkeypatch):
    """On an archive larger than the page cache a worker would wait on the
    disk for every file; the files queued for workers are read ahead."""
    advised: list[int] = []
    real = os.posix_fadvise

    def record(fd, offset, length, advice):
        if advice == os.POSIX_FADV_WILLNEED:
            advised.append(os.fstat(fd).st_ino)
        return real(fd, offset, length, advice)

    monkeypatch.setattr(os, "posix_fadvise", record)
    out = tmp_path / "out"
    result = run_cli("run", str(corpus / "input"), "-o", str(out), "-q", "-j", "2")
    assert result.exit_code == 0, result.output
    inputs = [p for p in (corpus / "input").rglob("*") if p.is_file()]
    assert sorted(advised) == sorted(p.stat().st_ino for p in inputs)


def test_interrupted_write_leaves_no_partial_file(corpus, tmp_path, env_key, monkeypatch):
    from deid import dicom_io

    calls = {"n": 0}
    real = {"replace": os.replace, "link": os.link}

    def crash_on_third(publish):  # outputs are published by link (fresh) or replace
        def crash(src, dst, **where):
            if str(dst).endswith(".dcm"):  # outputs only (the run's marker is renamed too)
                calls["n"] += 1
                if calls["n"] == 3:
                    raise KeyboardInterrupt
            return real[publish](src, dst, **where)

        return crash

    for publish in real:
        monkeypatch.setattr(dicom_io.os, publish, crash_on_third(publish))
    out = tmp_path / "out"
    interrupted = run_cli("run", str(corpus / "input"), "-o", str(out), "-q", "-j", "1")
    assert interrupted.exit_code == 130 and "run the same command again" in interrupted.output
    assert len(outputs(out)) == 2
    assert not list(out.rglob("*.deid-tmp"))
    for publish, function in real.items():
        monkeypatch.setattr(dicom_io.os, publish, function)
    assert run_cli("run", str(corpus / "input"), "-o", str(out), "-q", "-j", "1").exit_code == 0
    assert len(outputs(out)) == len(list((corpus / "input").rglob("*.dcm"))) + 1


def test_bad_inputs_are_reported_and_the_batch_goes_on(corpus, bad_files, tmp_path, env_key):
    before = hashes(bad_files)
    out = tmp_path / "out"
    private = tmp_path / "private-report"
    result = run_cli(
        "run",
        str(bad_files),
        str(corpus / "input" / "headerless"),
        "-o",
        str(out),
        "-j",
        "1",
        "-q",
        "--report-dir",
        str(private),
    )
    assert result.exit_code == 3
    assert "Traceback" not in result.output
    report = json.loads((private / "report.json").read_text())
    status = {Path(f["input"]).name: (f["status"], f["reason"]) for f in report["files"]}
    assert status["truncated.dcm"][0] == "failed" and "truncated" in status["truncated.dcm"][1]
    # Non-DICOM files met inside a folder are skipped and counted, not failures.
    assert status["notes.txt"][0] == "skipped" and "--strict" in status["notes.txt"][1]
    assert status["empty.dcm"][0] == "skipped"
    assert status["garbage.dcm"][0] == "failed"
    assert status["IMG0001"][0] == "written", "headerless file recognised by content"
    assert "truncated.dcm" in result.output  # one line each on the terminal
    assert hashes(bad_files) == before


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ([], {}, "no pseudonym key"),
        (["--option", "retain-everything"], {"DEID_KEY": "k" * 20}, "unknown option"),
        (["--profile", "nope"], {"DEID_KEY": "k" * 20}, "unknown profile 'nope'"),
        (
            ["--profile", "gdpr-anonymise", "--mapping-dir", "M"],
            {"DEID_KEY": "k" * 20},
            "keeps no linkage",
        ),
        (
            ["--profile", "gdpr-anonymise", "--option", "retain-uids"],
            {"DEID_KEY": "k" * 20},
            "option retain-uids would keep the original UIDs",
        ),
        (["--key-file", "/nonexistent/key"], {}, "cannot read key file"),
    ],
)
def test_usage_errors_are_one_line_exit_2(corpus, tmp_path, args, env, message):
    env = {"DEID_KEY": "", **env}
    result = run_cli("run", str(corpus / "input"), "-o", str(tmp_path / "o"), *args, env=env)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_mapping_dir_inside_output_is_refused(corpus, tmp_path, env_key):
    out = tmp_path / "o"
    result = run_cli(
        "run", str(corpus / "input"), "-o", str(out), "--mapping-dir", str(out / "linkage")
    )
    assert result.exit_code == 2 and "inside the output" in result.output


def test_verification_cleans_kept_text_and_withholds_what_it_cannot(
    corpus, manifest, tmp_path, env_key
):
    """A profile mistake keeps ImageComments (a name in it): the attribute is
    cleaned and the file verified again. Keeping a person-name attribute
    that holds the patient's name cannot be repaired: withheld."""
    one = corpus / manifest["files"][0]["path"]
    for keyword, status in (("ImageComments", "written"), ("PatientMotherBirthName", "withheld")):
        profile = tmp_path / f"leaky-{keyword}.toml"
        profile.write_text(
            '[profile]\nname = "leaky"\nextends = "basic"\n\n'
            f'[[rules]]\nmatch = "{keyword}"\naction = "K"\n'
        )
        out = tmp_path / f"out-{keyword}"
        result = run_cli("run", str(one), "-o", str(out), "--profile", str(profile), "-q")
        report = json.loads((out / "report.json").read_text())
        entry = report["files"][0]
        assert entry["status"] == status, entry["reason"]
        located = {f["location"] for f in entry["findings"] if f["rule"].startswith("verify.")}
        assert located == {keyword}
        assert "QUIXOTE" not in json.dumps(report)
        if status == "withheld":
            assert result.exit_code == 1 and not outputs(out), "a leak is never published"
            assert all("redacted" in f["evidence"] for f in entry["findings"] if f["evidence"])
        else:
            assert result.exit_code == 0
            (written,) = outputs(out)
            assert "QUIXOTE" not in str(pydicom.dcmread(written).get("ImageComments", ""))


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--option", "retain-longitudinal-full-dates"], "UNMODIFIED"),
        (["--profile", "KEEPDATE"], "UNMODIFIED"),
        ([], "REMOVED"),
    ],
)
def test_temporal_marker_says_what_happened_to_dates(
    corpus, manifest, tmp_path, env_key, args, expected
):
    profile = tmp_path / "keepdate.toml"
    profile.write_text(
        '[profile]\nname = "keepdate"\nextends = "basic"\n\n'
        '[[rules]]\nmatch = "StudyDate"\naction = "K"\n'
    )
    args = [str(profile) if a == "KEEPDATE" else a for a in args]
    one = corpus / manifest["files"][0]["path"]
    out = tmp_path / "out"
    result = run_cli("run", str(one), "-o", str(out), "-q", *args)
    assert result.exit_code == 0, result.output
    ds = pydicom.dcmread(outputs(out)[0])
    assert ds.LongitudinalTemporalInformationModified == expected
    if expected == "UNMODIFIED":
        assert ds.StudyDate == pydicom.dcmread(one).StudyDate


def test_dry_run_writes_no_dicom(corpus, tmp_path, env_key):
    out = tmp_path / "out"
    result = run_cli("run", str(corpus / "input"), "-o", str(out), "--dry-run")
    assert result.exit_code == 0
    assert "deid run (dry run: nothing written)" in result.output  # its title on one line
    assert not outputs(out)
    report = json.loads((out / "report.json").read_text())
    assert set(report["totals"]["by_status"]) == {"dry-run"}


def test_retain_safe_private_keeps_only_listed_numeric_private(corpus, manifest, tmp_path, env_key):
    mr = next(e for e in manifest["files"] if e["kind"] == "mr-implicit")
    out = tmp_path / "out"
    result = run_cli(
        "run", str(corpus / mr["path"]), "-o", str(out), "-q", "--option", "retain-safe-private"
    )
    assert result.exit_code == 0
    ds = pydicom.dcmread(outputs(out)[0])
    private = {(t.group, t.element & 0xFF): ds[t].value for t in ds.keys() if t.is_private}
    creators = [ds[t].value for t in ds.keys() if t.is_private and t.is_private_creator]
    assert creators == ["SIEMENS MR HEADER"]
    assert private[(0x0019, 0x0C)] in (1000, "1000", b"1000")
    # A single-image series is examined for burned-in text: found clean, it claims 113101.
    assert codes_of(ds) == ["113100", "113101", "113111"]


def codes_of(ds: pydicom.Dataset) -> list[str]:
    return [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]


def test_dicomdir_is_skipped_not_copied(tmp_path, env_key):
    source = Path(pydicom.__file__).parent / "data" / "test_files" / "dicomdirtests" / "DICOMDIR"
    shutil.copy(source, tmp_path / "DICOMDIR")
    out = tmp_path / "out"
    result = run_cli("run", str(tmp_path / "DICOMDIR"), "-o", str(out), "-q")
    assert result.exit_code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["files"][0]["status"] == "skipped"
    assert "DICOMDIR" in report["files"][0]["reason"]


def test_an_image_whose_meta_names_the_dicomdir_class_is_processed(tmp_path, env_key):
    """The data set names its class: a CT image whose file meta named the
    DICOMDIR class was skipped as a directory and its image lost. It is
    written as the CT it is, its meta rebuilt from the data set."""
    from pydicom.data import get_testdata_file
    from pydicom.uid import MediaStorageDirectoryStorage

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.file_meta.MediaStorageSOPClassUID = MediaStorageDirectoryStorage
    source = tmp_path / "in"
    source.mkdir()
    ds.save_as(source / "ct.dcm")
    out = tmp_path / "out"
    result = run_cli("run", str(source), "-o", str(out), "-q", "--pixels", "off")
    assert result.exit_code == 0, result.output
    (written,) = outputs(out)
    assert pydicom.dcmread(written).file_meta.MediaStorageSOPClassUID == ds.SOPClassUID
    # Directory records make a DICOMDIR whatever class its data set names.
    directory = pydicom.dcmread(
        Path(pydicom.__file__).parent / "data" / "test_files" / "dicomdirtests" / "DICOMDIR"
    )
    directory.SOPClassUID, directory.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.66", "1.2.3.4"
    folder = tmp_path / "dir"
    folder.mkdir()
    directory.save_as(folder / "DICOMDIR")
    result = run_cli("run", str(folder), "-o", str(tmp_path / "o2"), "-q", "--pixels", "off")
    assert result.exit_code == 0, result.output
    assert not outputs(tmp_path / "o2")


def test_output_is_no_worse_under_dciodvfy(runs, corpus, manifest):
    if not shutil.which("dciodvfy"):
        if os.environ.get("CI"):
            pytest.fail("dciodvfy (Debian dicom3tools) must be installed in CI")
        pytest.skip("dciodvfy not installed")
    found = by_source_sop(manifest, runs["basic"] / "out")
    # dciodvfy cannot inflate Deflated Explicit VR files (it fails on the inputs too).
    checked = [e for e in manifest["files"] if e["transfer_syntax"] != "1.2.840.10008.1.2.1.99"]
    assert len(checked) >= 20
    for entry in checked:
        out_ds = found[entry["sop_uid"]]
        out_path = next(
            p for p in outputs(runs["basic"] / "out") if p.name == f"{out_ds.SOPInstanceUID}.dcm"
        )
        before = _errors(corpus / entry["path"])
        after = _errors(out_path)
        assert after <= before, f"{entry['path']}: new errors {after - before}"


def _errors(path: Path) -> set[str]:
    proc = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True)
    return {
        line
        for line in proc.stderr.splitlines() + proc.stdout.splitlines()
        if line.startswith("Error")
    }


def test_profiles_commands_show_codes_and_reasons():
    listed = run_cli("profiles", "list")
    assert listed.exit_code == 0
    for name in PROFILES:
        assert name in listed.output
    shown = run_cli("profiles", "show", "basic")
    assert shown.exit_code == 0
    assert "(0010,0010)" in shown.output and "Patient's Name" in shown.output
    assert "PS3.15 Table E.1-1" in shown.output
    assert len(shown.output.splitlines()) > 620
    with_option = run_cli("profiles", "show", "basic", "--option", "retain-uids")
    line = next(ln for ln in with_option.output.splitlines() if ln.startswith("(0020,000d)"))
    assert line.split()[1:3] == ["K", "keep"] and "Study Instance UID" in line
    # The action a run takes, not the rule's bare one: the listing said
    # "empty" for Study Date and "dummy" for the document (a run writes a
    # dummy date, and de-identifies the document).
    actions = {ln.split()[0]: ln.split()[2] for ln in shown.output.splitlines() if ln[:1] == "("}
    assert actions["(0008,0020)"] == "dummy" and actions["(0020,0010)"] == "dummy"
    assert actions["(0042,0011)"] == "document"


def test_profiles_show_prints_a_profile_warning_as_one_line(tmp_path):
    """It printed Python's warning: the module's path, line and source line."""
    import sys

    profile = tmp_path / "nest.toml"
    profile.write_text(
        '[profile]\nname = "nest"\nextends = "basic"\n[[rules]]\n'
        'match = "RequestAttributesSequence/RequestedProcedureID"\naction = "keep"\n'
    )
    deid = str(Path(sys.executable).parent / "deid")
    shown = subprocess.run([deid, "profiles", "show", str(profile)], capture_output=True, text=True)
    assert shown.returncode == 0
    lines = shown.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: nest.toml: "), shown.stderr
    assert "does not apply" in lines[0] and ".py:" not in lines[0]


def test_duplicate_sop_instance_never_replaces_another_inputs_output(
    corpus, manifest, tmp_path, env_key, monkeypatch
):
    """Two different inputs with one SOP Instance UID map to one output name.
    The second is reported; the first's output stays, even when the second was
    checked before the first was written (two workers at the same moment)."""
    from deid import pipeline
    from tests.helpers import run_settings

    first = corpus / manifest["files"][0]["path"]
    ds = pydicom.dcmread(first)
    pixels = bytearray(ds.PixelData)
    pixels[0] ^= 0xFF
    ds.PixelData = bytes(pixels)  # same headers, other pixels: other output bytes
    second = tmp_path / "copy" / "second.dcm"
    second.parent.mkdir()
    ds.save_as(second)
    out = tmp_path / "out"
    settings = run_settings(inputs=[first, second], output=out, jobs=1)
    written = pipeline.process_file(first, settings)
    assert written.status == pipeline.WRITTEN
    before = (out / written.output).read_bytes()
    monkeypatch.setattr(Path, "exists", lambda self: False)  # the other worker looked first
    clash = pipeline.process_file(second, settings)
    monkeypatch.undo()
    assert clash.status == pipeline.FAILED
    assert "duplicate SOP Instance UID" in clash.reason
    assert (out / written.output).read_bytes() == before
    again = pipeline.process_file(first, settings)  # the same input twice: same bytes, fine
    assert again.status == pipeline.WRITTEN


def test_tcia_profile_claims_its_options_and_writes_midi_b_tables(runs, manifest):
    base = runs["tcia"]
    with (base / "linkage" / "patid_mapping.csv").open() as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["id_old", "id_new"] and set(manifest["planted"]) <= dict(rows[1:]).keys()
    for path in outputs(base / "out"):
        ds = pydicom.dcmread(path)
        codes = {item.CodeValue for item in ds.DeidentificationMethodCodeSequence}
        # Clean Descriptors, Modified Dates, Patient Characteristics, Safe Private.
        assert {"113100", "113105", "113107", "113108", "113111"} <= codes
        if "113101" in codes:  # Clean Pixel Data: only where pixels were examined
            assert ds.BurnedInAnnotation == "NO"
        assert ds.LongitudinalTemporalInformationModified == "MODIFIED"


@pytest.mark.parametrize("profile", ["hipaa-safe-harbor", "gdpr-anonymise"])
def test_dates_reduced_to_the_year_claim_no_retained_intervals(runs, profile):
    # 113107 promises temporal relationships kept: dates on 1 January and
    # times 000000 keep none, though the dates were modified.
    for path in outputs(runs[profile] / "out"):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        codes = {item.CodeValue for item in ds.DeidentificationMethodCodeSequence}
        assert "113107" not in codes
        assert "option retain-longitudinal-modified-dates" not in ds.DeidentificationMethod
        assert ds.LongitudinalTemporalInformationModified == "MODIFIED"


def _identifiers(out: Path) -> set[str]:
    """Patient pseudonyms and UIDs of a release: what could link it to another."""
    found = set()
    for path in outputs(out):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        found |= {str(ds.PatientID), str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID),
                  str(ds.SOPInstanceUID)}
    return found - {""}


def test_anonymised_release_links_to_no_other_release(runs, corpus, tmp_path):
    """Same DEID_KEY: the pseudonymised release (and its linkage table) must not
    share a patient pseudonym or UID with the anonymised one, nor two
    anonymised runs with each other."""
    anonymised = _identifiers(runs["gdpr-anonymise"] / "out")
    for other in ("gdpr-pseudonymise", "hipaa-safe-harbor", "basic"):
        assert not anonymised & _identifiers(runs[other] / "out"), other
    again = tmp_path / "again"
    result = run_cli("run", str(corpus / "input"), "-o", str(again), "--profile",
                     "gdpr-anonymise", "-q", env={"DEID_KEY": "test-key-0123456789abcdef"})
    assert result.exit_code == 0, result.output
    assert not anonymised & _identifiers(again)
    report = json.loads((again / "report.json").read_text())
    assert report["key"].startswith("fresh random key for this run, never stored")


def test_missing_input_is_a_usage_error_and_creates_nothing(corpus, tmp_path, env_key):
    out = tmp_path / "out"
    result = run_cli("run", str(corpus / "input"), str(tmp_path / "missing"), "-o", str(out))
    assert result.exit_code == 2 and "does not exist" in result.output
    assert not out.exists()


def test_second_run_with_another_key_or_profile_is_refused(corpus, tmp_path):
    """A run into an OUT written another way would add a second copy of every
    patient under other pseudonyms; the same command resumes as before."""
    out = tmp_path / "out"
    args = ["run", str(corpus / "input" / "headerless"), "-o", str(out), "-q"]
    first = run_cli(*args, env={"DEID_KEY": "first-key-0123456789"})
    assert first.exit_code == 0, first.output
    written = {p: p.read_bytes() for p in out.rglob("*.dcm")}
    assert len(written) == 1
    other_key = run_cli(*args, env={"DEID_KEY": "other-key-0123456789"})
    assert other_key.exit_code == 2 and "pseudonym key" in other_key.output
    other_profile = run_cli(
        *args, "--profile", "hipaa-safe-harbor", env={"DEID_KEY": "first-key-0123456789"}
    )
    assert other_profile.exit_code == 2 and "profile" in other_profile.output
    assert "profile file" not in other_profile.output  # another profile is said once
    assert {p: p.read_bytes() for p in out.rglob("*.dcm")} == written, "refused runs wrote"
    again = run_cli(*args, env={"DEID_KEY": "first-key-0123456789"})
    assert again.exit_code == 0, again.output
    assert {p: p.read_bytes() for p in out.rglob("*.dcm")} == written


def test_stray_non_dicom_files_are_skipped_unless_strict(corpus, tmp_path, env_key):
    data = tmp_path / "data"
    shutil.copytree(corpus / "input" / "headerless", data)
    (data / "notes.txt").write_text("scanned on the old machine\n")
    relaxed = run_cli("run", str(data), "-o", str(tmp_path / "a"), "-q")
    assert relaxed.exit_code == 0, relaxed.output
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    assert report["totals"]["by_status"] == {"skipped": 1, "written": 1}
    strict = run_cli("run", str(data), "-o", str(tmp_path / "b"), "-q", "--strict")
    assert strict.exit_code == 3
    scanned = CliRunner().invoke(main, ["scan", str(data), "--strict"])
    assert scanned.exit_code == 3 and "not-dicom" in scanned.output


def test_progress_in_logs_is_plain_lines_with_a_total(corpus, tmp_path, env_key):
    """Standard error is not a terminal (CI logs): plain lines, no control
    sequences, with the count out of the total."""
    n = len([p for p in (corpus / "input").rglob("*") if p.is_file()])
    result = CliRunner().invoke(main, ["run", str(corpus / "input"), "-o", str(tmp_path / "o")])
    lines = [line for line in result.output.splitlines() if line.startswith("deid: ")]
    assert lines and "\x1b" not in result.output, result.output
    assert lines[-1].startswith(f"deid: {n}/{n} files"), lines
    scanned = CliRunner().invoke(main, ["scan", str(corpus / "input")])
    assert any(line.startswith(f"deid scan: {n}/{n} files") for line in scanned.output.splitlines())


def test_hipaa_random_codes_live_only_in_the_linkage_table(corpus, tmp_path):
    """164.514(c): with --random-key the patient code comes from a key that is
    gone after the run; the linkage table is the only way back."""
    codes = []
    for n in (1, 2):
        out, maps = tmp_path / f"out{n}", tmp_path / f"map{n}"
        result = run_cli(
            "run", str(corpus / "input" / "identified"), "-o", str(out), "-q",
            "--profile", "hipaa-safe-harbor", "--random-key", "--mapping-dir", str(maps),
        )
        assert result.exit_code == 0, result.output
        with (maps / "patid_mapping.csv").open() as fh:
            table = dict(list(csv.reader(fh))[1:])
        written = {pydicom.dcmread(p, stop_before_pixels=True).PatientID for p in outputs(out)}
        assert written == set(table.values())
        codes.append(written)
    assert not codes[0] & codes[1], "a run's codes tell nothing about another run's"


def test_which_input_wins_a_clash_does_not_depend_on_timing_or_dry_run(corpus, tmp_path):
    """Inputs holding one object (same patient, study, series, SOP Instance
    UIDs): the first in input order is written, a different one is a failure,
    an identical copy is skipped; the same with 1 or 2 workers and in a dry run."""
    data = tmp_path / "data"
    (data / "a").mkdir(parents=True)
    (data / "b").mkdir()
    sources = sorted((corpus / "input" / "identified").rglob("*.dcm"))[:6]
    for i, source in enumerate(sources):
        shutil.copyfile(source, data / "a" / f"{i}.dcm")
        ds = pydicom.dcmread(source)
        ds.SeriesDescription = "another content"  # same UIDs, other object
        if i % 2 and ds.get("PatientID"):
            # A corrected name re-sent: filed under the same Patient ID, so
            # the same output; the clash is decided up front all the same.
            ds.PatientName = "CORRECTED^NAME"
        ds.save_as(data / "b" / f"{i}-changed.dcm")
    shutil.copyfile(sources[0], data / "b" / "0-copy.dcm")  # the same bytes again
    env = {"DEID_KEY": "test-key-0123456789abcdef"}
    seen = []
    for n, extra in enumerate((["-j", "1"], ["-j", "2"], ["-j", "2"], ["--dry-run"])):
        out, rep = tmp_path / f"out{n}", tmp_path / f"rep{n}"
        run_cli("run", str(data), "-o", str(out), "-q", "--report-dir", str(rep), *extra, env=env)
        report = json.loads((rep / "report.json").read_text())
        statuses = {Path(e["input"]).relative_to(data).as_posix(): e["status"]
                    for e in report["files"]}
        seen.append({k: ("written" if v == "dry-run" else v) for k, v in statuses.items()})
        if "--dry-run" not in extra:
            assert sorted(hashes(out).items()) == sorted(hashes(tmp_path / "out0").items())
    assert seen[0] == seen[1] == seen[2] == seen[3]
    assert {seen[0][f"a/{i}.dcm"] for i in range(6)} == {"written"}
    assert {seen[0][f"b/{i}-changed.dcm"] for i in range(6)} == {"failed"}
    assert seen[0]["b/0-copy.dcm"] == "skipped"
    # Each names the input that holds its object: by path where paths may
    # show (the report outside OUT), by its keyed reference inside OUT.
    report = json.loads((tmp_path / "rep0" / "report.json").read_text())
    earlier = {Path(e["input"]).name: e.get("earlier") for e in report["files"]}
    assert earlier["0-copy.dcm"] == earlier["0-changed.dcm"] == str(data / "a" / "0.dcm")
    assert earlier["5-changed.dcm"] == str(data / "a" / "5.dcm")
    assert earlier["5.dcm"] is None
    result = run_cli("run", str(data), "-o", str(tmp_path / "inside"), env=env)
    assert f"(the earlier input: {data / 'a' / '3.dcm'})" in result.stderr, result.stderr
    report = json.loads((tmp_path / "inside" / "report.json").read_text())
    by_label = {e["input"]: e for e in report["files"]}
    named = [e["earlier"] for e in report["files"] if e.get("earlier")]
    assert len(named) == 7 and all(by_label[n]["status"] == "written" for n in named)
    assert str(data) not in (tmp_path / "inside" / "report.json").read_text()


def test_an_intact_copy_is_written_when_the_first_copy_cannot_be(corpus, tmp_path):
    """Which input holds an object is decided before any is read: a first
    copy cut short failed, and the intact copy after it was failed as its
    duplicate ("the one written"), so nothing was written. The claim now
    passes to the next copy, in input order."""
    source = sorted((corpus / "input" / "identified").rglob("*.dcm"))[0]
    data = tmp_path / "data"
    for n in range(1, 6):  # folders are walked in sorted order, files as listed
        (data / str(n)).mkdir(parents=True)
    whole = source.read_bytes()
    (data / "1" / "a-cut.dcm").write_bytes(whole[: len(whole) // 2])
    (data / "2" / "b-cut.dcm").write_bytes(whole[: len(whole) // 3])
    ds = pydicom.dcmread(source)
    ds.SeriesDescription = "another content"
    ds.save_as(data / "3" / "c-whole.dcm")
    shutil.copyfile(source, data / "4" / "d-whole.dcm")
    shutil.copyfile(data / "3" / "c-whole.dcm", data / "5" / "e-same.dcm")  # c's bytes
    env = {"DEID_KEY": "test-key-0123456789abcdef"}
    for extra in (["-j", "1"], ["-j", "2"], ["--dry-run"]):
        rep = tmp_path / f"rep{extra[-1]}"
        result = run_cli("run", str(data), "-o", str(tmp_path / f"out{extra[-1]}"), "-q",
                         "--report-dir", str(rep), *extra, env=env)  # fmt: skip
        report = json.loads((rep / "report.json").read_text())
        by_name = {Path(e["input"]).name: e for e in report["files"]}
        assert by_name["a-cut.dcm"]["status"] == by_name["b-cut.dcm"]["status"] == "failed"
        assert "duplicate" not in by_name["b-cut.dcm"]["reason"]  # its own reason
        assert by_name["c-whole.dcm"]["status"] in ("written", "dry-run"), result.output
        assert by_name["d-whole.dcm"]["status"] == "failed"
        assert by_name["d-whole.dcm"]["earlier"] == str(data / "3" / "c-whole.dcm")
        # A copy of the input written in the first's place is skipped as one
        # (it was compared with the first only, and failed as "other content").
        assert by_name["e-same.dcm"]["status"] == "skipped"
        assert by_name["e-same.dcm"]["earlier"] == str(data / "3" / "c-whole.dcm")
    # The input written in the first's place is resumed like any other.
    again = run_cli("run", str(data), "-o", str(tmp_path / "out1"), "-q",
                    "--report-dir", str(tmp_path / "rep1"), "-j", "1", env=env)  # fmt: skip
    report = json.loads((tmp_path / "rep1" / "report.json").read_text())
    assert report["totals"]["resumed"] == 1, again.output


def test_an_input_named_twice_does_not_pass_its_claim_on(corpus, tmp_path):
    """The second mention of an input is an identical copy of the first,
    skipped at once; with two workers that skip arrived before the first's
    own result and was taken for its outcome ("not written"), so a copy
    with other content was processed too, into the same output."""
    source = sorted((corpus / "input" / "identified").rglob("*.dcm"))[0]
    data = tmp_path / "d"
    data.mkdir()
    shutil.copyfile(source, data / "a.dcm")
    ds = pydicom.dcmread(source)
    ds.SeriesDescription = "another content"
    ds.save_as(data / "b.dcm")
    env = {"DEID_KEY": "test-key-0123456789abcdef"}
    a, b = str(data / "a.dcm"), str(data / "b.dcm")
    for extra in (["-j", "2"], ["-j", "2", "--dry-run"], ["-j", "1"]):
        name = "".join(extra)
        result = run_cli("run", a, a, b, "-o", str(tmp_path / f"out{name}"), "-q",
                         "--report-dir", str(tmp_path / f"rep{name}"), *extra, env=env)  # fmt: skip
        assert result.exit_code == 3, result.output
        report = json.loads((tmp_path / f"rep{name}" / "report.json").read_text())
        statuses = sorted((e["status"], e.get("earlier") or "") for e in report["files"])
        done = "dry-run" if "--dry-run" in extra else "written"
        assert statuses == sorted([(done, ""), ("failed", a), ("skipped", a)]), statuses


def test_one_patient_id_from_two_issuers_is_a_finding(tmp_path):
    # Two sites issue MRN 12345 to two people: keyed by the ID, they share
    # one pseudonym. The run cannot tell them apart afterwards: it says so.
    from pydicom.data import get_testdata_file

    source = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    folder = tmp_path / "in"
    folder.mkdir()
    for i, (issuer, name) in enumerate([("HOSP_A", "SMITH^JOHN"), ("HOSP_B", "JONES^MARY"),
                                        ("HOSP_A", "SMITH^JOHN")]):  # fmt: skip
        ds = source.copy()
        ds.PatientID, ds.IssuerOfPatientID, ds.PatientName = "12345", issuer, name
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.save_as(folder / f"{i}.dcm", enforce_file_format=True)
    out = tmp_path / "out"
    result = run_cli("run", str(folder), "-o", str(out), "-q", "--pixels", "off", "--face", "off",
                     env={"DEID_KEY": "test-key-0123456789abcdef"})  # fmt: skip
    assert result.exit_code == 1, result.output
    report = json.loads((out / "report.json").read_text())
    said = [f for f in report["dataset_findings"] if f["rule"] == "patient.id-issuers"]
    assert len(said) == 1 and said[0]["severity"] == "high"
    assert "12345" not in json.dumps(said) and "HOSP" not in json.dumps(said)
    one_issuer = tmp_path / "one"
    one_issuer.mkdir()
    for path in sorted(folder.glob("*.dcm"))[::2]:  # HOSP_A twice
        shutil.copy(path, one_issuer / path.name)
    again = run_cli("run", str(one_issuer), "-o", str(tmp_path / "out2"), "-q", "--pixels", "off",
                    "--face", "off", env={"DEID_KEY": "test-key-0123456789abcdef"})  # fmt: skip
    assert again.exit_code == 0, again.output


def test_a_study_split_between_two_pseudonyms_is_a_finding(tmp_path):
    # An SR written without the Patient ID its images carry is known by name
    # and birth date: another pseudonym, folder and date shift for one study.
    from pydicom.data import get_testdata_file

    source = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    folder = tmp_path / "in"
    folder.mkdir()
    for i, patient_id in enumerate(["12345", "12345", ""]):
        ds = source.copy()
        ds.PatientID, ds.PatientName, ds.PatientBirthDate = patient_id, "SMITH^JOHN", "19500101"
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.save_as(folder / f"{i}.dcm", enforce_file_format=True)
    out = tmp_path / "out"
    args = ("-q", "--pixels", "off", "--face", "off", "--profile", "gdpr-pseudonymise")
    env = {"DEID_KEY": "test-key-0123456789abcdef"}
    result = run_cli("run", str(folder), "-o", str(out), *args, env=env)
    assert result.exit_code == 0, result.output  # medium: below the default --fail-on high
    report = json.loads((out / "report.json").read_text())
    said = [f for f in report["dataset_findings"] if f["rule"] == "study.patients"]
    assert len(said) == 1 and said[0]["severity"] == "medium", report["dataset_findings"]
    studies = {(e["summary"]["study"], e["summary"]["patient"]) for e in report["files"]}
    assert len({s for s, _ in studies}) == 1 and len(studies) == 2
    assert said[0]["evidence"] == next(iter(studies))[0]
    assert "12345" not in json.dumps(said) and "SMITH" not in json.dumps(said)
    whole = tmp_path / "whole"
    whole.mkdir()
    for path in sorted(folder.glob("*.dcm"))[:2]:  # the two with the ID
        shutil.copy(path, whole / path.name)
    run_cli("run", str(whole), "-o", str(tmp_path / "out2"), *args, env=env)
    report = json.loads((tmp_path / "out2" / "report.json").read_text())
    assert not [f for f in report["dataset_findings"] if f["rule"] == "study.patients"]


def test_a_linkage_folder_that_is_a_file_says_so(corpus, tmp_path, env_key):
    """It said "cannot write linkage tables in README.md: File exists"."""
    taken = tmp_path / "notes.txt"
    taken.write_text("x")
    result = run_cli(
        "run", str(corpus / "input"), "-o", str(tmp_path / "out"), "--mapping-dir", str(taken)
    )
    assert result.exit_code == 2
    assert result.output.strip().endswith(f"{taken}: it exists and is not a folder")


def test_a_slow_run_shows_a_rate_that_is_not_zero():
    from deid.progress import _rate

    shown = [_rate(250.4), _rate(3.24), _rate(0.5)]
    assert shown == ["250 files/s", "3.2 files/s", "30.0 files/min"]


@pytest.mark.parametrize("script", ["fixtures", "fixtures.head_phantom", "fixtures.documents"])
def test_fixture_scripts_show_their_usage_not_a_folder_named_help(tmp_path, script):
    """`python -m fixtures.head_phantom --help` built 81 MB into `--help/`."""
    import sys

    done = subprocess.run(
        [sys.executable, "-m", script, "--help"], cwd=tmp_path, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    assert done.returncode == 0 and done.stderr.startswith("usage: python -m ")
    assert list(tmp_path.iterdir()) == []


def _text_sr(path: Path) -> bytes:
    """A Basic Text SR whose SeriesNumber (0020,0011) follows its study
    UIDs: cut inside that element's header, pydicom reads the rest as whole."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID, ds.Modality = "Doe^Jane", "MRN4711", "SR"
    item = Dataset()
    item.RelationshipType, item.ValueType, item.TextValue = "CONTAINS", "TEXT", "no change"
    ds.ContentSequence = [item]
    ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = "1", 1, 1
    template = Dataset()
    template.MappingResource, template.TemplateIdentifier = "DCMR", "2000"
    ds.ContentTemplateSequence = [template]  # (0040,A504), before ContentSequence
    ds["ContentTemplateSequence"].is_undefined_length = True  # parsed, not left raw
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)
    return path.read_bytes()


@pytest.mark.parametrize("into", [2, 4, 6])
@pytest.mark.parametrize(
    ("at", "before"),
    [(b"\x20\x00\x11\x00IS", "(0020,0010)"), (b"\x40\x00\x30\xa7SQ", "(0040,A504)")],
)
def test_a_file_cut_inside_an_element_header_fails_and_never_replaces_the_whole_one(
    tmp_path, env_key, into, at, before
):
    """pydicom stops without a word when fewer bytes than a header are left:
    the cut SR was written without its last elements, and the intact copy,
    the same instance, was then refused as a duplicate."""
    folder = tmp_path / "in"
    folder.mkdir()
    whole = _text_sr(folder / "b_whole.dcm")
    (folder / "a_cut.dcm").write_bytes(whole[: whole.find(at) + into])
    out, private = tmp_path / "out", tmp_path / "private"
    args = ("-j", "1", "-q", "--report-dir", str(private))
    result = run_cli("run", str(folder), "-o", str(out), *args)
    assert result.exit_code == 3, result.output
    report = json.loads((private / "report.json").read_text())
    status = {Path(f["input"]).name: (f["status"], f["reason"]) for f in report["files"]}
    assert status["a_cut.dcm"][0] == "failed"  # cut short, or not the instance written
    assert status["b_whole.dcm"][0] == "written", status
    written = pydicom.dcmread(outputs(out)[0])
    assert str(written.SeriesNumber) == "1" and written.ContentSequence[0].ValueType == "TEXT"
    alone = run_cli("run", str(folder / "a_cut.dcm"), "-o", str(tmp_path / "o2"), "-j", "1")
    assert alone.exit_code == 3 and "truncated" in alone.output and before in alone.output
    scanned = run_cli("scan", str(folder), "-j", "1", "-q", "--report-dir", str(tmp_path / "s"))
    assert scanned.exit_code == 3, scanned.output
    report = json.loads((tmp_path / "s" / "report.json").read_text())
    status = {Path(f["input"]).name: (f["status"], f.get("reason", "")) for f in report["files"]}
    assert status["a_cut.dcm"][0] == "failed" and "truncated" in status["a_cut.dcm"][1]
    assert status["b_whole.dcm"][0] == "scanned"


@pytest.mark.parametrize("padding", [b"\r\n", b"    ", b"\0\0\0\0"])
def test_padding_after_the_last_element_is_not_a_cut(tmp_path, padding):
    """Line ends a text-mode copy left failed as "truncated" (a review)."""
    from deid.dicom_io import read

    whole = _text_sr(tmp_path / "whole.dcm")
    (tmp_path / "padded.dcm").write_bytes(whole + padding)
    assert str(read(tmp_path / "padded.dcm").SeriesNumber) == "1"


@pytest.mark.parametrize("preamble", [False, True])
def test_a_file_ending_inside_encapsulated_pixel_data_fails_as_truncated(
    tmp_path, env_key, preamble
):
    """Without its sequence delimiter, pydicom read nothing from a file with
    no preamble: in a folder it was skipped as not DICOM, exit 0 (with a
    preamble: "no data set"), while `deid scan` read its header's names."""
    from pydicom.data import get_testdata_file

    folder = tmp_path / "in"
    folder.mkdir()
    whole = Path(get_testdata_file("MR_small_RLE.dcm")).read_bytes()
    end = whole.rfind(b"\xfe\xff\xdd\xe0\x00\x00\x00\x00")  # the pixel data's delimiter
    (folder / "cut.dcm").write_bytes(whole[0 if preamble else 132 : end])
    shutil.copy(get_testdata_file("CT_small.dcm"), folder / "whole.dcm")
    private = tmp_path / "private"
    result = run_cli("run", str(folder), "-o", str(tmp_path / "out"), "-j", "1", "-q",
                     "--report-dir", str(private))  # fmt: skip
    assert result.exit_code == 3, result.output
    report = json.loads((private / "report.json").read_text())
    status = {Path(f["input"]).name: (f["status"], f["reason"]) for f in report["files"]}
    assert status["cut.dcm"][0] == "failed"
    assert "truncated" in status["cut.dcm"][1] and "without its delimiter" in status["cut.dcm"][1]
    assert status["whole.dcm"][0] == "written"


def test_a_slow_last_file_is_not_counted_twice_in_a_log(tmp_path, monkeypatch):
    """Outside a terminal a line is written every few seconds and one at the
    end: a single file slower than that interval printed "1/1 files" twice."""
    import io

    from rich.console import Console

    from deid import progress

    monkeypatch.setattr(progress, "PLAIN_EVERY", 0.0)
    (tmp_path / "a.dcm").write_bytes(b"")
    log = io.StringIO()
    with progress.BatchProgress(Console(file=log), "deid", [tmp_path]) as bar:
        bar._counter.join()
        bar.advance()
    assert log.getvalue().count("1/1 files") == 1, log.getvalue()
