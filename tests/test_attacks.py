"""Hostile input and hostile neighbours (issue 16): one test per kind of attack.

Names, values and reasons come from the data; none may be interpreted by a
terminal, a spreadsheet or a browser, crash a report, or steer where deid
reads or writes. Each test here failed before the fix it guards.
"""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from deid.cli import main
from fixtures.attacks import MARKUP, TERMINAL, image, unreadable

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
