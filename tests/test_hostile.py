"""Hostile and broken input: reported with a reason, never crashes a batch,
never writes outside the output folder, never changes an input."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deid import dicom_io
from deid.cli import main
from deid.pipeline import process_file
from fixtures.hostile import build_hostile
from tests.helpers import run_settings


def digests(paths: list[Path]) -> dict[Path, str]:
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


@pytest.mark.parametrize("parsed_from", ["memory", "open file"])
def test_hostile_batch(tmp_path, corpus, manifest, env_key, monkeypatch, parsed_from):
    monkeypatch.setattr(dicom_io, "MAX_INFLATED_BYTES", 32 << 20)
    if parsed_from == "open file":  # how files too large to read whole are parsed
        monkeypatch.setattr(dicom_io, "IN_MEMORY_BYTES", 0)
    hostile = build_hostile(tmp_path / "in")
    good = tmp_path / "in" / "good.dcm"
    good.write_bytes((corpus / manifest["files"][0]["path"]).read_bytes())
    before = digests([*hostile, good])
    out, private = tmp_path / "out", tmp_path / "report"
    result = CliRunner().invoke(
        main,
        [
            "run",
            str(tmp_path / "in"),
            "-o",
            str(out),
            "-j",
            "1",
            "-q",
            "--option",
            "retain-uids",
            "--report-dir",
            str(private),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 3
    assert "Traceback" not in result.output
    assert digests([*hostile, good]) == before
    report = json.loads((private / "report.json").read_text())
    status = {Path(f["input"]).name: (f["status"], f["reason"]) for f in report["files"]}
    expected = {
        "deep-nesting.dcm": "nested too deeply",
        "deflate-bomb.dcm": "inflates beyond 32 MiB",
        "gigantic-length.dcm": "truncated: element (0040,A730) declares 4294967280 bytes",
        "bad-length.dcm": "truncated: element (0040,0254)",
        "uid-with-path.dcm": "cannot name output",
        "bad-preamble.dcm": "not a DICOM file",
    }
    for name, reason in expected.items():
        # Not DICOM by content, met inside a folder: skipped and counted (--strict fails it).
        allowed = ("skipped",) if name == "bad-preamble.dcm" else ("failed", "not-dicom")
        assert status[name][0] in allowed, (name, status[name])
        assert reason in status[name][1], (name, status[name])
    assert status["mixed-charset.dcm"][0] == "written"
    assert status["good.dcm"][0] == "written"
    written = [p for p in out.rglob("*") if p.is_file()]
    assert all(p.resolve().is_relative_to(out.resolve()) for p in written)
    assert not list(Path("/tmp").glob("deid-escape*"))


def test_full_disk_fails_files_not_the_batch(tmp_path, corpus, manifest, env_key, monkeypatch):
    real = {"replace": os.replace, "link": os.link}
    full = {"all": False}

    def no_space(publish):  # outputs are published by link (fresh) or replace
        def fail(src, dst, **where):
            if full["all"] or str(dst).endswith(".dcm"):
                raise OSError(errno.ENOSPC, "No space left on device")
            return real[publish](src, dst, **where)

        return fail

    for publish in real:
        monkeypatch.setattr(dicom_io.os, publish, no_space(publish))
    out, private = tmp_path / "out", tmp_path / "report"
    inputs = [str(corpus / f["path"]) for f in manifest["files"][:3]]
    result = CliRunner().invoke(
        main,
        ["run", *inputs, "-o", str(out), "-j", "1", "-q", "--report-dir", str(private)],
        catch_exceptions=False,
    )
    assert result.exit_code == 3
    assert result.output.count("No space left on device") == 3
    assert not [p for p in out.rglob("*.dcm")]
    assert not list(out.rglob("*.deid-tmp"))
    report = json.loads((private / "report.json").read_text())
    assert {f["status"] for f in report["files"]} == {"failed"}
    # The disk is full for the report too: one line, no traceback.
    full["all"] = True
    again = CliRunner().invoke(
        main,
        ["run", *inputs, "-o", str(out), "-j", "1", "-q", "--report-dir", str(private)],
        catch_exceptions=False,
    )
    assert again.exit_code == 3
    assert "cannot write the report" in again.output and "Traceback" not in again.output


@pytest.fixture(scope="module")
def fuzz_seed(corpus: Path, manifest: dict) -> bytes:
    return (corpus / manifest["files"][0]["path"]).read_bytes()[:4096]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_fuzzed_files_never_escape(fuzz_seed, tmp_path_factory, data):
    raw = bytearray(fuzz_seed)
    for _ in range(data.draw(st.integers(1, 8), label="mutations")):
        kind = data.draw(st.sampled_from(["flip", "cut", "insert", "length"]), label="kind")
        at = data.draw(st.integers(0, len(raw) - 1), label="at")
        if kind == "flip":
            raw[at] ^= data.draw(st.integers(1, 255), label="xor")
        elif kind == "cut":
            del raw[at:]
            if len(raw) < 8:
                raw.extend(b"\0" * 8)
        elif kind == "insert":
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=16), label="bytes")
        else:  # a huge 32-bit length somewhere
            raw[at : at + 4] = (0xFFFFFFF0).to_bytes(4, "little")
    root = tmp_path_factory.mktemp("fuzz")
    source = root / "in.dcm"
    source.write_bytes(bytes(raw))
    out = root / "out"
    cfg = run_settings(
        inputs=[source], output=out, jobs=1, environ={"DEID_KEY": "fuzz-key-0123456789"}
    )
    result = process_file(source, cfg)  # never raises
    assert result.status in ("written", "failed", "not-dicom", "withheld", "skipped")
    assert source.read_bytes() == bytes(raw), "input changed"
    if result.status == "failed":
        assert result.reason and "\n" not in result.reason
        # A person's reason: what deid was doing, never a bare Python exception.
        assert not re.match(r"cannot process: \w+(Error|Exception)\b", result.reason), result.reason
    for path in root.rglob("*"):
        if path.is_file() and path != source:
            assert path.resolve().is_relative_to(out.resolve()), path
    assert not list(root.rglob("*.deid-tmp"))


# File names are bytes on Linux: anything but "/" and NUL, not "." or "..".
NAME_BYTES = (
    st.binary(min_size=1, max_size=24)
    .map(lambda b: b.replace(b"/", b"_").replace(b"\0", b"_"))
    .filter(lambda b: b not in (b".", b".."))
)
REPORTS = ("report.json", "findings.csv", "report.sarif", "report.html")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_fuzzed_names_and_files_through_run_and_scan(fuzz_seed, tmp_path_factory, data):
    """A mutated file under a fuzzed name (any bytes), through `deid run` and
    `deid scan`: one line per problem on the terminal, nothing it would act
    on, and every report valid UTF-8 that parses."""
    raw = bytearray(fuzz_seed)
    for _ in range(data.draw(st.integers(0, 4), label="mutations")):
        at = data.draw(st.integers(0, len(raw) - 1), label="at")
        raw[at] ^= data.draw(st.integers(1, 255), label="xor")
    name = data.draw(NAME_BYTES, label="name")
    root = tmp_path_factory.mktemp("fuzzname")
    inp = root / "in"
    inp.mkdir()
    (inp / os.fsdecode(name)).write_bytes(bytes(raw))
    env = {"DEID_KEY": "fuzz-key-0123456789"}
    runner = CliRunner()
    run = ["run", str(inp), "-o", str(root / "out"), "-j", "1", "-q", "--report-dir"]
    for args in ([*run, str(root / "r")], ["scan", str(inp), "--report-dir", str(root / "s")]):
        result = runner.invoke(main, args, env=env)
        assert result.exception is None or isinstance(result.exception, SystemExit), args
        assert result.exit_code in (0, 1, 3), (args, result.output)
        output = result.output
        assert "Traceback" not in output and "\x1b" not in output and "\r" not in output
        problems = [x for x in output.splitlines() if x.startswith(("failed:", "not-dicom:"))]
        assert len(problems) <= 1, output  # one file: at most one line about it
        folder = root / ("r" if args[0] == "run" else "s")
        for report in REPORTS:
            text = (folder / report).read_bytes().decode("utf-8")
            assert "\x1b" not in text, report
            if report.endswith((".json", ".sarif")):
                json.loads(text)


def test_a_failure_reason_is_one_line_without_pydicoms_traceback():
    # pydicom's element errors carry a traceback and the element's repr
    # (values of the file included) after their first line.
    from pydicom.tag import Tag, tag_in_exception

    from deid.process import failure_reason

    for tag in (0x00100020, Tag(0x00100020)):  # pydicom's writer passes a BaseTag
        try:
            with tag_in_exception(tag):
                raise TypeError("required argument is not a float\nfor data_element:\nDOE^JANE")
        except TypeError as exc:
            reason = failure_reason("encoding the output", exc)
        assert reason == (
            "cannot process: failed while encoding the output: (0010,0020): "
            "required argument is not a float"
        )


def test_a_failed_files_reason_never_quotes_its_values(tmp_path, env_key):
    """pydicom and Python quote the value they choke on ("invalid literal for
    int(): 'PID998877'"): the reason says what and where, not the value, in
    the reports inside OUT and on the terminal."""
    import pydicom
    from pydicom.data import get_testdata_file

    from deid.process import failure_reason

    folder = tmp_path / "in"
    folder.mkdir()
    for name, tag, vr, value in [
        ("frames.dcm", 0x00280008, "IS", b"PID998877 "),
        ("photometric.dcm", 0x00280004, "CS", b"HOLLOWAY GRACE"),  # no identifier of this file
    ]:
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        ds.PatientName, ds.PatientID = "ZANZIBAR^QUENTIN", "PID998877"
        ds.add_new(tag, "LO", "x")
        ds.save_as(folder / name, enforce_file_format=True)
        data = (folder / name).read_bytes()
        header = tag.to_bytes(4, "big")[1::-1] + tag.to_bytes(4, "big")[:1:-1] + b"LOx"
        # Written as LO, then labelled as the VR pydicom will choke on.
        at = data.index(header[:4] + b"LO")
        data = data[:at + 4] + vr.encode() + len(value).to_bytes(2, "little") + value + (
            data[at + 10:])  # fmt: skip
        (folder / name).write_bytes(data)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(folder), "-o", str(out), "-j", "1"])
    assert result.exit_code == 3, result.output
    report = json.loads((out / "report.json").read_text())
    assert [f["status"] for f in report["files"]] == ["failed", "failed"]
    for place in [result.output, *(p.read_text() for p in out.glob("report.*"))]:
        assert "PID998877" not in place and "HOLLOWAY" not in place
    assert failure_reason("reading", ValueError("bad value 'DOE^JANE' in b'x'")) == (
        "cannot process: failed while reading: bad value '…' in b'…'"
    )


def test_a_withheld_files_values_stay_out_of_the_report(tmp_path, env_key):
    """An operator typed the patient ID into Modality: the output is withheld
    for it, and the report (inside OUT, the folder shared) does not carry it
    in the file's summary either."""
    import pydicom
    from pydicom.data import get_testdata_file

    folder = tmp_path / "in"
    folder.mkdir()
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientID, ds.Modality = "PID998877", "PID998877"
    ds.ConversionType = "PID998877"  # the pixel decision named it
    ds.save_as(folder / "a.dcm", enforce_file_format=True)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(folder), "-o", str(out), "-j", "1", "-q"])
    assert result.exit_code == 1, result.output
    report = json.loads((out / "report.json").read_text())
    assert [f["status"] for f in report["files"]] == ["withheld"]
    for path in out.rglob("*"):
        if path.is_file():
            assert b"PID998877" not in path.read_bytes(), path


def test_every_entry_of_an_input_folder_is_processed_or_reported(tmp_path, env_key):
    """A FIFO or a socket is listed as not read (a FIFO may hold anything, a
    device never ends); a DICOM file whose name merely ends .deid-tmp is
    processed; only deid's own temporary names are passed over, saying so."""
    import socket

    from pydicom.data import get_testdata_file

    folder = tmp_path / "in"
    folder.mkdir()
    data = Path(get_testdata_file("CT_small.dcm")).read_bytes()
    (folder / "a.dcm").write_bytes(data)
    (folder / "study.deid-tmp").write_bytes(
        data.replace(b"1.3.6.1.4.1.5962.1.1.1.1.1", b"1.3.6.1.4.1.5962.1.1.1.1.9")
    )
    (folder / ".b.dcm.0123456789abcdef.deid-tmp").write_bytes(data)
    os.mkfifo(folder / "pipe.dcm")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(folder / "sock.dcm"))
    try:
        out = tmp_path / "out"
        args = ["run", str(folder), "-o", str(out), "--report-dir", str(tmp_path / "rep"), "-q"]
        run = CliRunner().invoke(main, [*args, "-j", "1"])
        scan_args = ["scan", str(folder), "--report-dir", str(tmp_path / "scan"), "-j", "1"]
        CliRunner().invoke(main, scan_args)
    finally:
        listener.close()
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    statuses = {Path(e["input"]).name: (e["status"], e["reason"]) for e in report["files"]}
    assert statuses["a.dcm"][0] == statuses["study.deid-tmp"][0] == "written"
    assert statuses["pipe.dcm"][0] == statuses["sock.dcm"][0] == "failed"
    assert "not a regular file" in statuses["pipe.dcm"][1]
    assert statuses[".b.dcm.0123456789abcdef.deid-tmp"][0] == "skipped"
    assert run.exit_code == 3
    scan = json.loads((tmp_path / "scan" / "report.json").read_text())
    scanned = {Path(e["input"]).name: e["status"] for e in scan["files"]}
    assert scanned["pipe.dcm"] == scanned["sock.dcm"] == "failed"
    assert scanned["study.deid-tmp"] == "scanned"


@pytest.mark.parametrize(
    "args",
    [
        ["run", "IN", "-o", "OUT", "--key-file", "/dev/zero"],
        ["run", "IN", "-o", "OUT", "--profile", "/dev/zero"],
        ["run", "IN", "-o", "OUT", "--key-file", "BIG"],
        ["run", "IN", "-o", "OUT", "--profile", "BIG"],
        ["scan", "IN", "--baseline", "/dev/zero"],
    ],
)
def test_a_device_or_huge_file_named_as_a_setting_is_one_line(tmp_path, args):
    """Keys, profiles and baselines are read with a bound: /dev/zero named by
    mistake filled memory until the process died with a traceback."""
    from pydicom.data import get_testdata_file

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.dcm").write_bytes(Path(get_testdata_file("CT_small.dcm")).read_bytes())
    big = tmp_path / "big.toml"
    with big.open("wb") as fh:
        fh.truncate(64 << 20)  # sparse: 64 MiB of nothing
    names = {"IN": str(folder), "OUT": str(tmp_path / "out"), "BIG": str(big)}
    result = CliRunner().invoke(main, [names.get(a, a) for a in args])
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert "a device" in result.output or "larger than" in result.output


def test_a_broken_link_named_as_input_is_called_so(tmp_path, env_key):
    (tmp_path / "gone.dcm").symlink_to(tmp_path / "nowhere.dcm")
    out = tmp_path / "out"
    args = ["run", str(tmp_path / "gone.dcm"), "-o", str(out), "--report-dir", str(tmp_path / "r")]
    result = CliRunner().invoke(main, [*args, "-q"])
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert [f["reason"] for f in report["files"]] == ["broken symbolic link"], result.output


def test_a_key_passed_through_a_pipe_still_works(tmp_path):
    from pydicom.data import get_testdata_file

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.dcm").write_bytes(Path(get_testdata_file("CT_small.dcm")).read_bytes())
    read, write = os.pipe()
    os.write(write, b"a-key-from-a-pipe-0123456789")
    os.close(write)
    try:
        args = ["run", str(folder), "-o", str(tmp_path / "out"), "-q", "--pixels", "off"]
        result = CliRunner().invoke(main, [*args, "--key-file", f"/dev/fd/{read}"])
    finally:
        os.close(read)
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    "keyword, number, written, expected",
    [
        ("PatientName", b"\x10\x00\x10\x00", b"UL", "PN"),
        ("PatientName", b"\x10\x00\x10\x00", b"LO", "PN"),
        ("StudyDate", b"\x08\x00\x20\x00", b"FD", "DA"),
        ("InstitutionName", b"\x08\x00\x80\x00", b"SH", "LO"),
    ],
)
def test_a_standard_attribute_in_a_wrong_vr_is_written_in_its_own(
    tmp_path, keyword, number, written, expected
):
    # Written as the file wrote it, the output was invalid DICOM (dciodvfy:
    # "Invalid Value Representation"), and a PatientName as FD was dropped.
    import pydicom
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientName, ds.StudyDate, ds.InstitutionName = "Doe^Jane", "20200102", "Acme"
    source = tmp_path / "in" / "x.dcm"
    source.parent.mkdir()
    ds.save_as(source, enforce_file_format=True)
    data = source.read_bytes()
    at = data.index(number, 132 + 200)
    source.write_bytes(data[: at + 4] + written + data[at + 6 :])
    result = process_file(
        source,
        run_settings(
            inputs=[source.parent],
            output=tmp_path / "out",
            random_key=True,
            pixels="off",
            face="off",
        ),
    )
    assert result.status.value == "written", result.reason
    out = pydicom.dcmread(tmp_path / "out" / result.output)
    if keyword in out:
        written_vr = out[keyword].VR
        assert written_vr == expected
    assert "Doe" not in str(out.get("PatientName", ""))
    notes = [c for c in result.changes if c["action"] == "relabel"]
    assert [c["path"] for c in notes] == [keyword]


@pytest.mark.parametrize(
    "profile, keyword, number",
    [
        ("basic", "ScanOptions", b"\x18\x00\x22\x00"),  # CS: kept unread when a code
        ("gdpr-pseudonymise", "StudyTime", b"\x08\x00\x30\x00"),  # TM: kept when shifting dates
    ],
)
def test_free_text_in_a_wrong_vr_is_not_relabelled_into_a_kept_vr(
    tmp_path, profile, keyword, number
):
    # Relabelled by its dictionary VR, a text written as LO into a code or a
    # time was kept whole where as LO it was removed or cleaned.
    import pydicom
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds[keyword] = pydicom.DataElement(keyword, "LO", "Dr John Smith 555-867-5309")
    source = tmp_path / "in" / "x.dcm"
    source.parent.mkdir()
    ds.save_as(source, enforce_file_format=True)
    assert number + b"LO" in source.read_bytes()
    settings = run_settings(inputs=[source.parent], output=tmp_path / "out", profile=profile,
                            random_key=True, pixels="off", face="off")  # fmt: skip
    result = process_file(source, settings)
    assert result.status.value == "written", result.reason
    written = (tmp_path / "out" / result.output).read_bytes()
    assert b"Smith" not in written and b"867-5309" not in written


def test_an_element_left_on_disk_is_not_relabelled(tmp_path, monkeypatch):
    # In a file too large to read whole, a large value is read when used; a
    # relabelled one was then read back under the wrong header and failed.
    import pydicom
    from pydicom.data import get_testdata_file

    monkeypatch.setattr(dicom_io, "IN_MEMORY_BYTES", 0)
    monkeypatch.setattr(dicom_io, "DEFER_BYTES", 64)
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds["Manufacturer"] = pydicom.DataElement("Manufacturer", "UT", "Acme Scanners " * 10)
    source = tmp_path / "in" / "x.dcm"
    source.parent.mkdir()
    ds.save_as(source, enforce_file_format=True)
    settings = run_settings(inputs=[source.parent], output=tmp_path / "out", random_key=True,
                            pixels="off", face="off")  # fmt: skip
    result = process_file(source, settings)
    assert result.status.value == "written", result.reason
    assert b"Acme Scanners" in (tmp_path / "out" / result.output).read_bytes()  # kept


def test_a_value_no_action_can_take_fails_the_file_naming_the_attribute(
    tmp_path, env_key, monkeypatch
):
    """A NaN weight under gdpr-anonymise failed "while changing the header:
    cannot convert float NaN to integer", naming no attribute; such a value
    is now emptied, and any value an action cannot take is named by its
    place, never quoted (an exception's text may hold the value)."""
    from deid import actions
    from fixtures.attacks import image

    image(tmp_path / "in", "nan.dcm", "nan", PatientWeight="NaN", PatientSize="1.7")
    out = tmp_path / "out"
    args = ["run", str(tmp_path / "in"), "-o", str(out), "-q", "--profile", "gdpr-anonymise",
            "--pixels", "off", "--face", "off"]  # fmt: skip
    assert CliRunner().invoke(main, args).exit_code == 0
    assert actions.round_to("inf", 5) == "" and actions.round_to("1e309", 5) == ""

    def refuses(value: object, step: float) -> str:
        raise ValueError(f"cannot round {value}")

    monkeypatch.setattr(actions, "round_to", refuses)
    result = CliRunner().invoke(main, [*args[:3], str(tmp_path / "o2"), *args[4:]])
    assert result.exit_code == 3, result.output
    assert "PatientSize (DS) holds a value deid cannot" in result.output, result.output
    assert "1.7" not in result.output
