"""The `deid-scan` hook through the real pre-commit tool, in a temporary
data repository that installs deid from this repository's committed HEAD."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from deid.cli import main

ROOT = Path(__file__).resolve().parents[1]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def precommit() -> list[str]:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    return [sys.executable, "-m", "pre_commit"]


def test_hook_blocks_identified_files_and_passes_clean_ones(
    precommit, corpus, manifest, tmp_path, env_key
):
    head = git(ROOT, "rev-parse", "HEAD")
    if git(ROOT, "show", f"{head}:.pre-commit-hooks.yaml") == "":
        pytest.fail("the hook file is not committed")
    repo = tmp_path / "data-repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {ROOT}\n  rev: {head}\n  hooks:\n  - id: deid-scan\n"
    )
    raw = repo / "raw.dcm"
    raw.write_bytes((corpus / manifest["files"][0]["path"]).read_bytes())
    out = tmp_path / "clean"
    assert CliRunner().invoke(main, ["run", str(raw), "-o", str(out), "-q"]).exit_code == 0
    clean = repo / "clean.dcm"
    clean.write_bytes(next(out.rglob("*.dcm")).read_bytes())
    (repo / "notes.bin").write_bytes(b"\x00\x01 not dicom")
    git(repo, "add", ".")
    env = dict(os.environ, PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"))

    def run_hook(*files: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*precommit, "run", "--files", *files],
            cwd=repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )

    blocked = run_hook("raw.dcm", "clean.dcm", "notes.bin")
    assert blocked.returncode == 1, blocked.stdout + blocked.stderr
    assert "deid scan" in blocked.stdout and "Failed" in blocked.stdout
    passed = run_hook("clean.dcm", "notes.bin")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "Passed" in passed.stdout
