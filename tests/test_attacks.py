"""Hostile input and hostile neighbours (issue 16): one test per kind of attack.

Names, values and reasons come from the data; none may be interpreted by a
terminal, a spreadsheet or a browser, crash a report, or steer where deid
reads or writes. Each test here failed before the fix it guards.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
from pathlib import Path

import pytest
from click.testing import CliRunner

from deid.cli import main
from fixtures.attacks import FORMULA, MARKUP, TERMINAL, image, unreadable

KEY = {"DEID_KEY": "test-key-0123456789abcdef"}


def deid(*args: object, env: dict[str, str] | None = None):
    """The CLI as a user runs it; a crash shows as an exception, not a pass."""
    result = CliRunner().invoke(main, [str(a) for a in args], env={**KEY, **(env or {})})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def assert_one_line_each(output: str, prefix: str, count: int) -> None:
    """`count` lines start with `prefix`, and nothing a terminal acts on got through."""
    assert "\x1b" not in output and "\u202e" not in output and "Traceback" not in output
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
    """A `[/]` in NumberOfFrames of an OT image or in a retained UID reaches
    the one-line reason; it used to raise MarkupError and end the run."""
    image(tmp_path / "in", "frames.dcm", "frames", NumberOfFrames=b"[/]")
    image(tmp_path / "in", "uid.dcm", "uid", SOPInstanceUID=b"1.2.[/]3")
    result = deid(
        "run", tmp_path / "in", "-o", tmp_path / "out", "-j", "1", "-q", "--option", "retain-uids"
    )
    assert result.exit_code == 3, result.output
    assert_one_line_each(result.output, "failed: ", 2)
    assert "'1.2.[/]3'" in result.output and "'[/]'" in result.output
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
    run = deid("run", inp, "-o", tmp_path / "out", "-j", "1", "-q", "--report-dir", tmp_path / "r")
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
    for table in ("map/patient_id_mapping.csv", "map/uid_mapping.csv", "rep/findings.csv",
                  "scan/findings.csv"):  # fmt: skip
        no_formula(cells(Path(table)))
    found = cells(Path("scan/findings.csv"))
    evidence = {row[-1] for row in found}
    assert "'+cmd|' /C calc'!A0" in evidence, evidence  # shown as text, and complete
    assert {row[3] for row in found} >= {"'=HYPERLINK(\"https:__example.invalid\",\"x\").dcm"}
    # Linkage tables are for re-identification: one leading apostrophe is
    # removed to get every original ID back exactly, the quoted one included.
    from deid.linkage import read_table

    originals = {old for old, _ in read_table(Path("map/patient_id_mapping.csv"))}
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
    assert set(status.values()) == {"written"}
    assert len(status) == sum(1 for p in (corpus / "input").rglob("*") if p.is_file())
    # Resumed: every file is done but the quarantined one, which is not tried again.
    again = deid(*args)
    assert again.exit_code == 3, again.output
    assert "skipped: it did so in an earlier run" in again.output
    assert len(calls.read_text().split()) == 2
