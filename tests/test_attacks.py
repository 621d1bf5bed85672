"""Hostile input and hostile neighbours (issue 16): one test per kind of attack.

Names, values and reasons come from the data; none may be interpreted by a
terminal, a spreadsheet or a browser, crash a report, or steer where deid
reads or writes. Each test here failed before the fix it guards.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from deid.cli import main
from deid.safetext import from_spreadsheet_cell
from fixtures.attacks import FORMULA, MARKUP, TERMINAL, image, unreadable

KEY = {"DEID_KEY": "test-key-0123456789abcdef"}


def deid(*args: object, env: dict[str, str] | None = None):
    """The CLI as a user runs it; a crash shows as an exception, not a pass."""
    result = CliRunner().invoke(main, [str(a) for a in args], env={**KEY, **(env or {})})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


_C1 = re.compile("[\x7f-\x9f]")


def assert_one_line_each(output: str, prefix: str, count: int) -> None:
    """`count` lines start with `prefix`, and nothing a terminal acts on got through."""
    assert "\x1b" not in output and "\u202e" not in output and "Traceback" not in output
    assert not _C1.search(output), output
    assert sum(line.startswith(prefix) for line in output.splitlines()) == count, output


# --------------------------------------------------------------------------
# 1. Rich markup and control characters


def hostile_tree(root: Path) -> list[str]:
    """Unreadable files whose paths hold markup and terminal controls; the
    paths as a terminal must show them (escaped, on one line)."""
    names = []
    unreadable(root / "a[", "]b.dcm")  # the path holds "[/]"
    names.append("a[/]b.dcm")
    for i, text in enumerate(MARKUP + TERMINAL):
        path = unreadable(root, f"{i}{text}.dcm")  # a "/" makes a folder; "//" is one
        names.append(str(path.relative_to(root)).encode("unicode_escape").decode())
    return names


def test_markup_and_controls_in_names_are_shown_not_interpreted(tmp_path):
    names = hostile_tree(tmp_path / "in")
    run = deid("run", tmp_path / "in", "-o", tmp_path / "out", "-j", "1", "-q")
    assert run.exit_code == 3, run.output
    assert_one_line_each(run.output, "failed: ", len(names))
    scan = deid("scan", tmp_path / "in", "--report-dir", tmp_path / "scan")
    assert scan.exit_code == 3, scan.output
    assert_one_line_each(scan.output, "failed: ", len(names))
    for name in names:
        assert name in run.output and name in scan.output, name


def test_markup_in_values_and_reasons_is_shown_not_interpreted(tmp_path):
    """A `[/]` in NumberOfFrames of an OT image or in a retained UID: it used
    to reach the one-line reason and raise MarkupError, ending the run. The
    reason now leaves the value out (it may be the patient's)."""
    image(tmp_path / "in", "frames.dcm", "frames", NumberOfFrames=b"[/]")
    image(tmp_path / "in", "uid.dcm", "uid", SOPInstanceUID=b"1.2.[/]3")
    result = deid(
        "run", tmp_path / "in", "-o", tmp_path / "out", "-j", "1", "-q", "--option", "retain-uids"
    )
    assert result.exit_code == 3, result.output
    assert_one_line_each(result.output, "failed: ", 2)
    assert "[/]" not in result.output
    assert "NumberOfFrames (IS) not a whole number" in result.output  # named, no value
    assert result.output.count("'…'") == 1  # the UID's value left out
    again = deid(
        "run", tmp_path / "in", "-o", tmp_path / "out", "-j", "1", "-q", "--option", "retain-uids"
    )
    assert again.exit_code == 3 and (tmp_path / "out" / "report.json").is_file()


def test_error_messages_keep_their_brackets(tmp_path):
    profile = tmp_path / "p.toml"
    profile.write_text("[rules]\n")
    result = deid("run", tmp_path, "-o", tmp_path / "out", "--profile", profile)
    assert result.exit_code == 2
    assert "missing [profile] section" in result.output, result.output


# --------------------------------------------------------------------------
# 2. Names that are not UTF-8


def reports(folder: Path) -> dict[str, str]:
    """Every report in `folder`, which must all be valid UTF-8 and parse."""
    found = {}
    for name in ("report.json", "findings.csv", "report.sarif", "report.html"):
        text = (folder / name).read_bytes().decode("utf-8")  # strict: valid UTF-8
        if name.endswith((".json", ".sarif")):
            json.loads(text)
        found[name] = text
    return found


def test_names_that_are_not_utf8_reach_every_report(tmp_path):
    inp = tmp_path / "in"
    image(inp, b"good-\xff.dcm", "latin")  # a Latin-1 name on a UTF-8 system
    unreadable(inp, b"bad-\xfe\x80.dcm")
    # --pixels off: the capture left unexamined is a finding, so findings.csv names it too.
    out, r = tmp_path / "out", tmp_path / "r"
    run = deid("run", inp, "-o", out, "-j", "1", "-q", "--pixels", "off", "--report-dir", r)
    assert run.exit_code == 3, run.output
    assert_one_line_each(run.output, "failed: ", 1)
    assert "bad-\\xfe\\x80.dcm" in run.output
    for text in reports(tmp_path / "r").values():
        assert "good-\\xff.dcm" in text.replace("\\\\", "\\") or "good-%FF.dcm" in text
    scan = deid("scan", inp, "--report-dir", tmp_path / "s")
    assert scan.exit_code == 3, scan.output
    assert "bad-\\xfe\\x80.dcm" in scan.output
    found = reports(tmp_path / "s")
    assert "good-%FF.dcm" in found["report.sarif"]  # the name's exact bytes
    for name in ("report.json", "findings.csv", "report.html"):
        assert "good-\\xff.dcm" in found[name].replace("\\\\", "\\"), name
    for fmt in ("json", "sarif"):
        printed = deid("scan", inp, "--format", fmt)
        assert printed.exit_code == 3
        json.loads(printed.stdout)


# --------------------------------------------------------------------------
# 6. CSV formula injection


def cells(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def no_formula(rows: list[list[str]]) -> None:
    for row in rows:
        for value in row:
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), row


def test_csv_cells_never_start_a_formula(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative inputs: the file column starts with the name
    for i, text in enumerate(FORMULA):
        image(Path("."), f"{text.replace('/', '_')}.dcm", f"f{i}", PatientID=text)
    image(Path("."), "'quoted.dcm", "q", PatientID="'quoted")
    names = sorted(p.name for p in Path(".").glob("*.dcm"))
    run = deid(
        "run", "-o", "out", "-q", "-j", "1", "--profile", "gdpr-pseudonymise",
        "--mapping-dir", "map", "--report-dir", "rep", "--", *names,
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    scan = deid("scan", "--show-values", "--report-dir", "scan", "--", *names)
    assert scan.exit_code == 1, scan.output
    for table in ("map/patid_mapping.csv", "map/uid_mapping.csv", "rep/findings.csv",
                  "scan/findings.csv"):  # fmt: skip
        no_formula(cells(Path(table)))
    found = cells(Path("scan/findings.csv"))
    evidence = {row[-1] for row in found}
    assert "'+cmd|' /C calc'!A0" in evidence, evidence  # shown as text, and complete
    assert {row[3] for row in found} >= {"'=HYPERLINK(\"https:__example.invalid\",\"x\").dcm"}
    # Linkage tables are for re-identification: one leading apostrophe is
    # removed to get every original ID back exactly, the quoted one included.
    from deid.linkage import read_table

    originals = {old for old, _ in read_table(Path("map/patid_mapping.csv"))}
    assert originals == {*FORMULA, "'quoted"}


# --------------------------------------------------------------------------
# 4. A worker that dies


def poison(monkeypatch: pytest.MonkeyPatch, calls: Path) -> None:
    """Files named poison* kill the worker process working on them (as a
    native decoder crash or the out-of-memory killer would); each call is
    counted in `calls`. Workers are forked, so they inherit the patch."""
    from deid import pipeline

    real = pipeline._process_item

    def process(path: str, flag: bool, settings):
        if Path(path).name.startswith("poison"):
            with calls.open("a") as fh:
                fh.write(f"{os.getpid()}\n")
            os.kill(os.getpid(), signal.SIGKILL)
        return real(path, flag, settings)

    monkeypatch.setattr(pipeline, "_process_item", process)


def test_a_worker_killed_on_a_file_costs_that_file_only(corpus, tmp_path, monkeypatch):
    calls = tmp_path / "calls"
    poison(monkeypatch, calls)
    inp = tmp_path / "in"
    shutil.copytree(corpus / "input", inp)
    shutil.copy(next((corpus / "input").rglob("*.dcm")), inp / "poison.dcm")
    args = ("run", inp, "-o", tmp_path / "out", "-j", "2", "-q", "--report-dir", tmp_path / "r")
    first = deid(*args)
    assert first.exit_code == 3, first.output
    assert_one_line_each(first.output, "failed: ", 1)
    assert "poison.dcm: worker died: signal 9 (SIGKILL)" in first.output
    assert len(calls.read_text().split()) == 2  # its first worker, then one of its own
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    status = {Path(f["input"]).name: f["status"] for f in report["files"]}
    assert status.pop("poison.dcm") == "failed"
    # poison.dcm is a copy of a corpus file and comes first in input order:
    # the other copy of that object is skipped as identical, the rest written.
    assert sorted(status.values()).count("skipped") == 1
    assert set(status.values()) == {"written", "skipped"}
    assert len(status) == sum(1 for p in (corpus / "input").rglob("*") if p.is_file())
    # Resumed: every file is done but the quarantined one, which is not tried again.
    again = deid(*args)
    assert again.exit_code == 3, again.output
    assert "skipped: it did so in an earlier run" in again.output
    assert len(calls.read_text().split()) == 2


# --------------------------------------------------------------------------
# 7. Symbolic links


def outputs(root: Path) -> list[Path]:
    return sorted(root.rglob("*.dcm"))


def test_links_never_feed_outputs_back_or_send_writes_elsewhere(corpus, tmp_path):
    inp, out = tmp_path / "data" / "in", tmp_path / "data" / "out"
    shutil.copytree(corpus / "input" / "identified", inp)
    (inp / "to-out").symlink_to(out)  # a link to OUT inside the input tree...
    (inp / "up").symlink_to("..")  # ...and one to the folder holding both
    args = ("run", inp, "-o", out, "-j", "1", "-q")
    first = deid(*args)
    count = len(outputs(out))
    assert count == len(list(inp.glob("*.dcm"))), first.output
    for _ in range(2):  # re-runs used to take the outputs as new patients
        again = deid(*args)
        assert "inside a folder deid writes to" in again.output
        assert len(outputs(out)) == count
    # A planted link at OUT/<pseudonym> must not send outputs elsewhere.
    patient = next(p for p in out.iterdir() if p.is_dir())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / patient.name).symlink_to(elsewhere)
    planted = deid("run", inp, "-o", fresh, "-j", "1", "-q")
    assert planted.exit_code == 3 and not list(elsewhere.rglob("*")), planted.output
    assert "Too many levels of symbolic links" in planted.output or "Not a dir" in planted.output


def test_reports_and_linkage_tables_never_written_through_a_link(corpus, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    rep, maps = tmp_path / "rep", tmp_path / "map"
    rep.mkdir()
    maps.mkdir()
    (rep / "report.json").symlink_to(victim)
    args = ("run", corpus / "input" / "identified", "-o", tmp_path / "out", "-j", "1", "-q",
            "--profile", "gdpr-pseudonymise", "--report-dir", rep)  # fmt: skip
    assert deid(*args).exit_code == 0
    assert victim.read_text() == "precious\n" and not (rep / "report.json").is_symlink()
    kept_reports = [p.name for p in rep.iterdir()]
    (maps / "patid_mapping.csv").symlink_to(victim)  # would receive every original ID
    result = deid(*args, "--mapping-dir", maps)
    assert result.exit_code == 3 and victim.read_text() == "precious\n"
    assert_one_line_each(result.output, "error: ", 1)
    assert "symbolic link" in result.output
    # Refused before any work, and nothing of the run left in the report folder.
    assert sorted(p.name for p in rep.iterdir()) == sorted(kept_reports), "a spool was left"


def test_the_run_marker_is_never_written_or_read_through_a_link(corpus, tmp_path):
    """A link planted at OUT/.deid-run.tmp made a first run replace its
    target with the run marker: an input DICOM became 124 bytes of JSON
    (exit 0). One planted at the marker itself is refused, not followed."""
    data = tmp_path / "in"
    shutil.copytree(corpus / "input" / "identified", data)
    victim = sorted(data.rglob("*.dcm"))[0]
    before = victim.read_bytes()
    out = tmp_path / "out"
    out.mkdir()
    (out / ".deid-run.tmp").symlink_to(victim)
    assert deid("run", data, "-o", out, "-j", "1", "-q", "--pixels", "off").exit_code == 0
    assert victim.read_bytes() == before
    assert not (out / ".deid-run.json").is_symlink()
    other = tmp_path / "out2"
    other.mkdir()
    (other / ".deid-run.json").symlink_to(out / ".deid-run.json")
    result = deid("run", data, "-o", other, "-q", "--pixels", "off")
    assert result.exit_code == 2 and "is unreadable: choose a fresh output folder" in result.output
    assert_one_line_each(result.output, "error: ", 1)


def test_an_output_folder_that_refuses_writes_is_one_line(corpus, tmp_path, monkeypatch):
    """-o /sys/kernel (root cannot write there either) gave a traceback from
    the run marker's write; so would a read-only folder or a full disk."""
    import errno

    from deid import run_identity

    def refuse(target, data, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(run_identity, "atomic_write", refuse)
    result = deid("run", corpus / "input" / "identified", "-o", tmp_path / "out", "-q")
    assert result.exit_code == 3
    assert_one_line_each(result.output, "error: ", 1)
    assert "cannot write into" in result.output and "Permission denied" in result.output


def test_temporary_names_cannot_be_predicted(tmp_path, monkeypatch):
    from deid import writing

    made = []
    real = os.open

    def record(path, flags, *args, **kwargs):
        if str(path).endswith(".deid-tmp"):
            made.append((str(path), flags))
        return real(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", record)
    for _ in range(2):
        writing.atomic_write(tmp_path / "x.dcm", b"data")
    assert len({name for name, _ in made}) == 2 and str(os.getpid()) not in made[0][0]
    assert all(flags & os.O_EXCL and flags & os.O_NOFOLLOW for _, flags in made)


# --------------------------------------------------------------------------
# 8. Where deid writes


@pytest.mark.parametrize("option", ["--report-dir", "--mapping-dir", "--face-previews"])
def test_run_never_writes_into_an_input(corpus, tmp_path, option):
    inp = tmp_path / "in"
    shutil.copytree(corpus / "input" / "identified", inp)
    result = deid("run", inp, "-o", tmp_path / "out", "--profile", "gdpr-pseudonymise",
                  option, inp / "sub")  # fmt: skip
    assert result.exit_code == 2, result.output
    assert_one_line_each(result.output, "error: ", 1)
    assert f"{option} " in result.output and not (inp / "sub").exists()


# --------------------------------------------------------------------------
# 9. Faults end in one line


def test_journal_full_disk_is_one_line(corpus, tmp_path, monkeypatch):
    """SQLite's own "database or disk is full", from a journal limited to the
    pages it has once created."""
    import sqlite3

    real = sqlite3.connect

    def small(path, *args, **kwargs):
        db = real(path, *args, **kwargs)
        db.execute("PRAGMA max_page_count = 6")
        return db

    monkeypatch.setattr(sqlite3, "connect", small)
    result = deid("run", corpus / "input", "-o", tmp_path / "out", "-j", "1", "-q")
    assert result.exit_code == 3, result.output
    assert_one_line_each(result.output, "error: ", 1)
    assert "resume journal" in result.output and "full" in result.output


def test_read_only_mapping_dir_is_one_line(corpus, tmp_path):
    maps = tmp_path / "map"
    maps.mkdir()
    if subprocess.run(["chattr", "+i", str(maps)], capture_output=True).returncode:
        maps.chmod(0o500)  # not root: permissions suffice
    try:
        result = deid("run", corpus / "input" / "identified", "-o", tmp_path / "out", "-q",
                      "--profile", "gdpr-pseudonymise", "--mapping-dir", maps)  # fmt: skip
    finally:
        subprocess.run(["chattr", "-i", str(maps)], capture_output=True)
        maps.chmod(0o700)
    assert result.exit_code == 3, result.output
    assert_one_line_each(result.output, "error: ", 1)
    assert "cannot write linkage tables" in result.output


def test_a_second_run_into_the_same_output_is_refused(corpus, tmp_path, env_key):
    """While one run is writing (here: from inside its result callback), a
    second one into the same OUT is refused in one line and the first
    finishes intact (it used to lose its spool to the second's sweep)."""
    from deid.api import deidentify
    from tests.helpers import run_settings

    out = tmp_path / "out"
    second = []

    def meanwhile(_result) -> None:
        if not second:
            second.append(deid("run", corpus / "input", "-o", out, "-j", "1", "-q"))

    settings = run_settings(inputs=[corpus / "input"], output=out, jobs=1)
    outcome = deidentify([corpus / "input"], settings, meanwhile)
    assert second[0].exit_code == 2, second[0].output
    assert_one_line_each(second[0].output, "error: ", 1)
    assert "another deid is writing into" in second[0].output
    assert outcome.exit_code == 0 and (out / "report.json").is_file()


def test_a_profile_or_allow_list_edited_between_runs_is_another_way(tmp_path):
    """The run marker knew a profile by its file's name: a rule changed from
    keep to remove between two runs into one OUT went unnoticed, and the
    earlier outputs were resumed holding what the new rule removes. An edit
    of the profile, or of an allow-list, is now another way of making
    outputs: the run is refused in one line naming it."""
    image(tmp_path / "in", "a.dcm", "edited", SeriesDescription="ward 7 bed 12")
    profile, allow = tmp_path / "my.toml", tmp_path / "allow.toml"
    rule = '[profile]\nname = "my"\nextends = "basic"\n[[rules]]\nmatch = "SeriesDescription"\n'
    profile.write_text(rule + 'action = "K"\n')
    allow.write_text('words = ["PORTABLE"]\n')
    args = ("run", tmp_path / "in", "-o", tmp_path / "out", "-j", "1", "-q",
            "--profile", profile, "--pixel-allowlist", allow)  # fmt: skip
    assert deid(*args).exit_code == 0
    assert deid(*args).exit_code == 0  # unchanged: resumed
    profile.write_text(rule + 'action = "X"\n')
    edited = deid(*args)
    assert edited.exit_code == 2, edited.output
    assert_one_line_each(edited.output, "error: ", 1)
    assert "(profile rules)" in edited.output
    profile.write_text(rule + 'action = "K"\n')
    allow.write_text('words = ["SUPINE"]\n')
    edited = deid(*args)
    assert edited.exit_code == 2 and "(pixel settings)" in edited.output, edited.output
    assert "outputs made two ways" in edited.output  # no pseudonyms differ
    allow.write_text('words = ["PORTABLE"]\n')
    no_face = deid(*args, "--face", "off")  # its markers were written by the face check
    assert no_face.exit_code == 2 and "(face check)" in no_face.output, no_face.output
    # Thresholds judge heads: other ones are another way; the defaults restated are not.
    thresholds = tmp_path / "face.toml"
    thresholds.write_text("[gates]\nmin_slices = 16\n")
    assert deid(*args, "--face-thresholds", thresholds).exit_code == 0
    thresholds.write_text("[gates]\nmin_slices = 40\n")
    other = deid(*args, "--face-thresholds", thresholds)
    assert other.exit_code == 2 and "(face check)" in other.output, other.output
    # A marker written before deid recorded rules: said so, not "other pseudonyms".
    marker = tmp_path / "out" / ".deid-run.json"
    old = json.loads(marker.read_text())
    del old["rules"]
    marker.write_text(json.dumps(old))
    earlier = deid(*args)
    assert earlier.exit_code == 2 and "earlier deid" in earlier.output, earlier.output
    assert "pseudonyms" not in earlier.output
    # The journal in the shared output names no path of the user's.
    journal = (tmp_path / "out" / ".deid-journal.sqlite").read_bytes()
    assert str(tmp_path).encode() not in journal


def test_a_uid_ending_like_a_temporary_does_not_break_the_sweep(tmp_path):
    image(tmp_path / "in", "a.dcm", "tmp-uid", SeriesInstanceUID="1.2.3.deid-tmp")
    args = ("run", tmp_path / "in", "-o", tmp_path / "out", "-j", "1", "-q",
            "--option", "retain-uids")  # fmt: skip
    assert deid(*args).exit_code == 0
    again = deid(*args)
    assert again.exit_code == 0, again.output
    assert len(outputs(tmp_path / "out")) == 1


# --------------------------------------------------------------------------
# 10. Resource limits


def test_jobs_capped_at_the_cpus(corpus, tmp_path):
    cores = len(os.sched_getaffinity(0))
    result = deid("run", corpus / "input" / "identified", "-o", tmp_path / "out", "-q",
                  "-j", "10000")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"warning: --jobs 10000 capped at {cores}" in result.output


def _data_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmData:"):
            return int(line.split()[1]) << 10
    raise AssertionError("no VmData")


def test_a_file_beyond_the_worker_memory_budget_is_reported(tmp_path, monkeypatch):
    """A deflated data set inflating to 600 MB (below the 1 GiB refusal) in
    a worker allowed 300 MB more than it holds: reported with the reason,
    while the other file is written."""
    from deid import executors
    from fixtures.hostile import deflate_bomb

    budget = _data_bytes() + (300 << 20)  # a forked worker starts with this process's data
    monkeypatch.setattr(executors, "memory_budget", lambda jobs: budget)
    inp = tmp_path / "in"
    inp.mkdir()
    deflate_bomb(inp, inflated=600 << 20)
    image(inp, "small.dcm", "small")
    result = deid("run", inp, "-o", tmp_path / "out", "-j", "2", "-q")
    assert result.exit_code == 3, result.output
    assert_one_line_each(result.output, "failed: ", 1)
    assert "deflate-bomb.dcm: needs more memory than a worker may use" in result.output
    assert len(outputs(tmp_path / "out")) == 1


# Linux counts the RSS of the process a program is exec'd from in the program's
# own peak (a child of pytest would report pytest's size): deid starts from a
# small process that reports its peak, and its workers', as the kernel counts it.
PEAK_OF = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, *sys.argv[1:]])
_, status, usage = os.wait4(pid, 0)
print(f"peak-rss-kib {usage.ru_maxrss}")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def test_a_large_removed_element_is_never_read(tmp_path):
    """A 1 GiB private element (sparse on disk) that every profile removes:
    the file is written without reading it. Peak RSS of deid and its
    workers, as the kernel counts it for the whole process tree."""
    from fixtures.attacks import large_private

    large_private(tmp_path / "in", "big.dcm", 1 << 30)
    done = subprocess.run(
        [sys.executable, "-c", PEAK_OF, "-m", "deid.cli", "run", str(tmp_path / "in"), "-o",
         str(tmp_path / "out"), "-j", "2", "-q"],
        env={**os.environ, **KEY}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(outputs(tmp_path / "out")) == 1
    peak = int(done.stdout.split("peak-rss-kib ")[1])
    assert peak < 500 << 10, peak  # KiB: far below the element


# --------------------------------------------------------------------------
# 11. Truncated at an element boundary


@pytest.mark.parametrize("before", ["PixelData", "Rows"])
def test_an_image_cut_before_its_pixels_is_failed_not_written(corpus, manifest, tmp_path, before):
    import pydicom

    source = next(corpus / f["path"] for f in manifest["files"] if "ct-explicit" in f["path"])
    data = source.read_bytes()
    ds = pydicom.dcmread(source, defer_size=0)
    cut = ds.get_item(before, keep_deferred=True).value_tell - (12 if before == "PixelData" else 8)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "cut.dcm").write_bytes(data[:cut])
    result = deid("run", tmp_path / "in", "-o", tmp_path / "out", "-j", "1", "-q")
    assert result.exit_code == 3, result.output
    assert "cut.dcm: an image (CT Image Storage) without" in result.output
    assert not outputs(tmp_path / "out")


# --------------------------------------------------------------------------
# 12. Interrupts and a main process that dies

SLOW = """
import time
from deid import pipeline

real = pipeline.process_file


def slow(path, settings, may_overwrite=False):
    time.sleep(0.4)  # every file takes a while: the run is caught in the middle
    return real(path, settings, may_overwrite)


pipeline.process_file = slow
"""


# A worker that swallows the exception its SIGTERM raises, as native code
# loading a library can (seen with onnxruntime's extension).
SWALLOWING = SLOW.replace(
    "    time.sleep(0.4)  # every file takes a while: the run is caught in the middle\n"
    "    return real(path, settings, may_overwrite)\n",
    "    try:\n        time.sleep(0.4)\n        return real(path, settings, may_overwrite)\n"
    "    except SystemExit:\n        time.sleep(60)\n",
)


def start_slow_run(
    tmp_path: Path, corpus: Path, *extra: str, hook: str = SLOW
) -> subprocess.Popen:
    """`deid run -j 2` in its own session, each file slowed down; returns
    once its workers have written a first output."""
    (tmp_path / "slow_hook.py").write_text(hook)
    code = f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import slow_hook; " \
        "from deid.cli import main; main()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "run", str(corpus / "input"), "-o",
         str(tmp_path / "out"), "-j", "2", "-q", *extra],
        env={**os.environ, **KEY}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not outputs(tmp_path / "out"):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    return proc


def workers(proc: subprocess.Popen) -> list:
    import psutil

    return psutil.Process(proc.pid).children(recursive=True)


def still_running(procs: list, timeout: float) -> list:
    """The processes that have not ended within `timeout`. An ended worker
    whose parent was killed waits as a zombie for whoever adopts it to reap
    it (in a container that may be nobody): it runs no code any more."""
    import psutil

    _, alive = psutil.wait_procs(procs, timeout=timeout)
    return [p for p in alive if _status(p) not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)]


def _status(proc) -> str:
    import psutil

    try:
        return proc.status()
    except psutil.NoSuchProcess:
        return psutil.STATUS_DEAD


def test_workers_die_with_the_main_process(corpus, tmp_path):
    proc = start_slow_run(tmp_path, corpus)
    children = workers(proc)
    assert len(children) >= 2
    proc.kill()  # kill -9: no chance to stop anything itself
    proc.wait()
    alive = still_running(children, timeout=5)
    assert not alive, alive  # orphans used to go on publishing outputs
    written = len(outputs(tmp_path / "out"))
    time.sleep(1)
    assert len(outputs(tmp_path / "out")) == written


def test_a_worker_that_swallows_its_stop_still_dies(corpus, tmp_path):
    from deid.executors import HARD_STOP_SECONDS

    proc = start_slow_run(tmp_path, corpus, hook=SWALLOWING)
    children = workers(proc)
    assert len(children) >= 2
    proc.kill()
    proc.wait()
    alive = still_running(children, timeout=HARD_STOP_SECONDS + 3)
    for orphan in alive:
        orphan.kill()
    assert not alive, alive


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_and_ctrl_c_stop_cleanly_and_resume(corpus, tmp_path, signum, code):
    proc = start_slow_run(tmp_path, corpus)
    children = workers(proc)
    sent = time.monotonic()
    if signum == signal.SIGINT:
        os.killpg(proc.pid, signum)  # a terminal's Ctrl-C reaches the whole group
    else:
        os.kill(proc.pid, signum)  # a service manager signals the main process
    _, stderr = proc.communicate(timeout=30)
    stopped = time.monotonic() - sent
    text = stderr.decode()
    assert proc.returncode == code, text
    assert stopped < 5, stopped  # about 2 s: workers get 1.5 s to clean up
    assert "Traceback" not in text and text.strip().startswith("interrupted:"), text
    alive = still_running(children, timeout=5)
    assert not alive
    assert not list((tmp_path / "out").rglob("*.deid-tmp"))
    resumed = deid("run", corpus / "input", "-o", tmp_path / "out", "-j", "2", "-q")
    assert resumed.exit_code == 0, resumed.output
    whole = deid("run", corpus / "input", "-o", tmp_path / "whole", "-j", "2", "-q")
    assert whole.exit_code == 0
    assert digests(tmp_path / "out") == digests(tmp_path / "whole")


def digests(root: Path) -> dict[str, str]:
    import hashlib

    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in outputs(root)}  # fmt: skip


def test_scan_sweeps_its_own_stale_spools(corpus, tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.Popen(["true"])
    dead.wait()
    live = subprocess.Popen(["sleep", "30"])
    try:
        stale = tmp_path / f".deid-spool-{dead.pid}-x1"
        busy = tmp_path / f".deid-spool-{live.pid}-x2"
        foreign = tmp_path / f".deid-spool-{dead.pid}-x3"
        target = tmp_path / "not-a-spool"
        for folder in (stale, busy, foreign, target):
            folder.mkdir()
            (folder / "run-00000001.jsonl").write_text("{}\n")
        os.chown(foreign, 12345, 12345)  # another user's
        (tmp_path / f".deid-spool-{dead.pid}-x4").symlink_to(target)
        assert deid("scan", corpus / "input" / "identified").exit_code == 1
        assert not stale.exists()
        assert busy.exists() and foreign.exists() and (target / "run-00000001.jsonl").exists()
    finally:
        live.kill()
        live.wait()


# --------------------------------------------------------------------------
# 13. The rest


def test_private_creator_is_evidence_redacted_unless_shown(tmp_path):
    from pydicom import dcmread

    path = image(tmp_path / "in", "p.dcm", "creator")
    ds = dcmread(path)
    block = ds.private_block(0x0011, "SMITH^JOHN WORKSTATION", create=True)
    block.add_new(0x01, "LO", "value")
    ds.save_as(path)
    hidden = deid("scan", tmp_path / "in", "--format", "json")
    assert "SMITH" not in hidden.stdout, hidden.stdout
    assert "(0011,10xx)" in hidden.stdout
    shown = deid("scan", tmp_path / "in", "--format", "json", "--show-values",
                 "--report-dir", tmp_path / "r")  # fmt: skip
    assert "SMITH^JOHN WORKSTATION" in shown.stdout


MALFORMED = {
    "--profile": [b"\xff\xfe not text", b'[profile]\nname = "x"\nextends = 7\n',
                  b'[profile]\nname = "x"\nextends = "basic"\n[private]\naction = 4\n',
                  b'[profile]\nname = "x"\nextends = "basic"\n[safe_private]\nx = 1\n',
                  b'[profile]\nname = "x"\nextends = "basic"\n[[rules]]\nmatch = "PatientName"\n'
                  b'action = "round:nan"\n',
                  b'[profile]\nname = "x"\nextends = "basic"\n[[rules]]\nmatch = "PatientAge"\n'
                  b'action = "round:inf"\n'],
    "--pixel-allowlist": [b"\xff", b"words = 5\n", b'wordz = ["ACME"]\n'],
    "--pixel-regions": [b"rule = 5\n", b"[[rule]]\nrects = [[1, 2]]\n",
                        b"[[rules]]\nrects = [[0, 0, 4, 4]]\n",
                        b"[[rule]]\nrectz = [[0, 0, 4, 4]]\n", b"rule = [5]\n"],
    "--face-thresholds": [b'[gates]\nmin_slices = "many"\n', b"[gates]\nmodalities = 5\n"],
    "--baseline": [b"\xff\xfe", b'{"format": "deid-baseline/1", "findings": [{"x": 1}]}',
                   b'{"format": "deid-baseline/1", "findings": 5}'],
}  # fmt: skip


@pytest.mark.parametrize(
    ("option", "content"), [(o, c) for o, cases in MALFORMED.items() for c in cases]
)
def test_malformed_data_files_are_one_line(tmp_path, option, content):
    bad = tmp_path / "bad.toml"
    bad.write_bytes(content)
    (tmp_path / "in").mkdir()
    if option == "--baseline":
        result = deid("scan", tmp_path / "in", option, bad)
    else:
        result = deid("run", tmp_path / "in", "-o", tmp_path / "out", option, bad)
    assert result.exit_code == 2, result.output
    assert_one_line_each(result.output, "error: ", 1)
    assert len(result.output.strip().splitlines()) == 1, result.output


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--executor", "dask", "--scheduler", "not a scheduler"], {}),
        (["--executor", "dask", "--scheduler", "tls://127.0.0.1:1"], {}),
        ([], {"DEID_KEY": "abc\udcffdefghijklmnopqrstuvwxyz"}),  # bytes that are not UTF-8
        (["--no-such-option"], {}),  # Click's own usage error: 4 lines before
        ([], {"DEID_KEY": ""}),
    ],
)
def test_configuration_errors_are_one_line(tmp_path, args, env):
    (tmp_path / "in").mkdir()
    result = deid("run", tmp_path / "in", "-o", tmp_path / "out", *args, env=env)
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert result.output.startswith("error: ")


def test_a_key_file_others_can_read_is_warned_about(tmp_path):
    key = tmp_path / "key"
    key.write_text("a-secret-key-0123456789")
    key.chmod(0o644)
    (tmp_path / "in").mkdir()
    result = deid("run", tmp_path / "in", "-o", tmp_path / "out", "--key-file", key, "-q")
    assert result.exit_code == 0
    assert f"warning: key file {key} can be read by other users" in result.output
    key.chmod(0o600)
    quiet = deid("run", tmp_path / "in", "-o", tmp_path / "out2", "--key-file", key, "-q")
    assert "warning" not in quiet.output


def test_sarif_uris_are_percent_encoded(tmp_path):
    image(tmp_path / "in", "a b#c%d?.dcm", "uri")
    result = deid("scan", tmp_path / "in", "--format", "sarif")
    uris = {loc["physicalLocation"]["artifactLocation"]["uri"]
            for r in json.loads(result.stdout)["runs"][0]["results"]
            for loc in r.get("locations", []) if "physicalLocation" in loc}  # fmt: skip
    assert uris == {f"{tmp_path}/in/a%20b%23c%25d%3F.dcm"}, uris


# --------------------------------------------------------------------------
# All of it at once: hostile text as names and values through run and scan

HTML = ('<img src=x onerror="alert(1)">', "</td></tr><script>alert(1)</script>")
HOSTILE = (*MARKUP, *TERMINAL, *FORMULA, *HTML, "\xff\xfe-not-utf8")


def check_reports(folder: Path) -> dict[str, str]:
    """Every report: valid UTF-8 that parses, no raw terminal controls, no
    cell a spreadsheet would run, no markup from the data in the page."""
    found = reports(folder)
    for name, text in found.items():
        assert "\x1b" not in text and "\u202e" not in text, name
        assert not _C1.search(text), name
    no_formula(list(csv.reader(io.StringIO(found["findings.csv"]))))
    assert "<img" not in found["report.html"] and "<script" not in found["report.html"]
    for result in json.loads(found["report.sarif"])["runs"][0]["results"]:
        for location in result.get("locations", []):
            uri = location.get("physicalLocation", {}).get("artifactLocation", {}).get("uri", "")
            assert uri.isascii() and " " not in uri and "#" not in uri, uri
    return found


@pytest.mark.parametrize("text", HOSTILE, ids=lambda t: t.encode("unicode_escape").decode())
def test_hostile_text_through_run_and_scan(tmp_path, text):
    inp = tmp_path / "in"
    if text.startswith("\xff"):  # a name that is not UTF-8 (bytes 0xff 0xfe)
        name = b"\xff\xfe-not-utf8"
        value = "not-utf8"
    else:
        name, value = text.encode(), text
    image(inp, name + b".dcm", "bar", SpecificCharacterSet="ISO_IR 192", StudyDescription=value,
          InstitutionName=value)  # fmt: skip
    unreadable(inp, name + b"-broken.dcm")
    run = deid("run", inp, "-o", tmp_path / "out", "-j", "1", "-q", "--report-dir",
               tmp_path / "r", "--show-values")  # fmt: skip
    assert run.exit_code == 3, run.output
    assert_one_line_each(run.output, "failed: ", 1)
    check_reports(tmp_path / "r")
    scan = deid("scan", inp, "--show-values", "--report-dir", tmp_path / "s")
    assert scan.exit_code == 3, scan.output
    assert_one_line_each(scan.output, "failed: ", 1)
    found = check_reports(tmp_path / "s")
    entries = [json.loads(line.rstrip(",")) for line in found["report.json"].splitlines()
               if line.startswith('{"input"')]  # fmt: skip
    evidence = {f["evidence"] for e in entries for f in e["findings"]}
    assert value in evidence  # the value itself, exact, where values are asked for
    cells = {row[-1] for row in csv.reader(io.StringIO(found["findings.csv"]))}
    shown = value.encode("unicode_escape").decode()  # controls as escapes, as on a terminal
    assert {from_spreadsheet_cell(c) for c in cells} >= {shown}
    for fmt in ("json", "sarif", "table"):
        printed = deid("scan", inp, "--format", fmt)
        assert "\x1b" not in printed.output and "Traceback" not in printed.output
        assert not _C1.search(printed.output), fmt
        if fmt != "table":
            json.loads(printed.stdout)


@pytest.mark.parametrize(
    "option",
    ["--profile", "--pixel-allowlist", "--pixel-regions", "--face-thresholds", "--baseline"],
)
def test_settings_files_nested_too_deep_are_one_line(corpus, tmp_path, option):
    """tomllib and json raise RecursionError on arrays nested a thousand
    deep: a traceback, exit 1."""
    deep = tmp_path / ("deep.json" if option == "--baseline" else "deep.toml")
    if option == "--baseline":
        deep.write_text("[" * 100_000 + "]" * 100_000)
    else:
        deep.write_text("x = " + "[" * 1000 + "]" * 1000 + "\n")
    result = deid("scan", corpus / "input" / "identified", option, deep)
    assert result.exit_code == 2, result.output
    assert_one_line_each(result.output, "error: ", 1)
    assert "nested too deep" in result.output


def test_one_long_word_in_a_text_value_does_not_stall_a_run(tmp_path):
    """The e-mail pattern tried every position of a word, each try running
    to its end: a 400 kB word took 344 s, two 100 MB ones never finished
    (and SIGTERM could not stop the regex). Linear now: a 2 MB word runs
    in a few seconds; the bound below is 60 s."""
    import pydicom
    from pydicom.data import get_testdata_file

    folder = tmp_path / "in"
    folder.mkdir()
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.TextValue = "A" * 2_000_000 + "@"  # UT: long values stay text
    ds.save_as(folder / "long.dcm")
    command = [sys.executable, "-m", "deid.cli", "run", str(folder), "-o", str(tmp_path / "out"),
               "-q", "-j", "1", "--pixels", "off"]  # fmt: skip
    environ = {**os.environ, **KEY}
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=environ)
    assert done.returncode == 0, done.stderr


def _finishes(call, seconds: float = 20):
    """What `call` returns, or fails the test if it blocks (a read waiting on
    a pipe for a writer that never comes)."""
    import threading

    box: list = []
    thread = threading.Thread(target=lambda: box.append(_outcome(call)), daemon=True)
    thread.start()
    thread.join(seconds)
    assert box, f"{call} blocked"
    return box[0]


def _outcome(call):
    try:
        return call()
    except Exception as exc:  # noqa: BLE001 - what it raised is the outcome here
        return exc


def test_a_pipe_put_in_a_files_place_during_a_run_never_blocks_it(tmp_path):
    """The walk refuses pipes, but the series steps and the claims read
    inputs again later: an input replaced by a FIFO mid-run hung the run
    for ever (a blocking open waiting for a writer)."""
    from deid import claims, dicom_io
    from deid.face.geometry import SliceGeometry
    from deid.face.volume import _native
    from deid.paths import open_regular

    fifo = tmp_path / "f119.dcm"
    os.mkfifo(fifo)
    regular = tmp_path / "regular.dcm"
    regular.write_bytes(b"\0" * 200)
    for read in (dicom_io.sniff, dicom_io.read, dicom_io.check_inflation, open_regular):
        outcome = _finishes(lambda read=read: read(fifo))
        assert isinstance(outcome, Exception) and "not a regular file" in str(outcome), read
    assert _finishes(lambda: claims.Claims(b"k" * 32).earlier(fifo)) is None
    assert _finishes(lambda: claims.verdict(fifo, str(regular)))[0] is False
    geometry = SliceGeometry(
        str(fifo), "s", "CT", "HEAD", 1, 1, 1, None, None, None, pixels=(8, 2, "<u2", 16, 2)
    )
    assert _finishes(lambda: _native(geometry, 0)) is None


def test_a_value_left_on_disk_is_not_read_from_a_pipe_put_in_its_place(tmp_path, monkeypatch):
    """A file too large to read whole keeps large values on disk, and
    pydicom reopened it by name with a plain open when they were used: a
    pipe swapped in meanwhile hung the run (the worker blocked in
    read_deferred_data_element)."""
    import pydicom
    from pydicom.data import get_testdata_file

    from deid import dicom_io

    monkeypatch.setattr(dicom_io, "IN_MEMORY_BYTES", 0)
    monkeypatch.setattr(dicom_io, "DEFER_BYTES", 64)
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.ImageComments = "kept on disk " * 20
    path = tmp_path / "big.dcm"
    ds.save_as(path)
    read = dicom_io.read(path)
    path.rename(tmp_path / "moved.dcm")
    os.mkfifo(path)
    outcome = _finishes(lambda: read["ImageComments"].value)
    assert isinstance(outcome, OSError) and "not a regular file" in str(outcome)
