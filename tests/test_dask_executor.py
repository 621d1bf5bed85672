"""The Dask executor writes the same bytes as local processes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from deid.cli import main

distributed = pytest.importorskip("distributed")


def digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*.dcm"))
    }


def test_dask_cluster_matches_local_executor(corpus, tmp_path, env_key):
    local = tmp_path / "local"
    result = CliRunner().invoke(
        main, ["run", str(corpus / "input"), "-o", str(local), "-q", "-j", "2"]
    )
    assert result.exit_code == 0
    with distributed.LocalCluster(
        n_workers=3, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        remote = tmp_path / "dask"
        result = CliRunner().invoke(
            main,
            [
                "run",
                str(corpus / "input"),
                "-o",
                str(remote),
                "-q",
                "-j",
                "3",
                "--executor",
                "dask",
                "--scheduler",
                cluster.scheduler_address,
            ],
        )
        assert result.exit_code == 0, result.output
        with distributed.Client(cluster) as client:
            ran = client.run_on_scheduler(
                lambda dask_scheduler: sorted(dask_scheduler.task_prefixes)
            )
            workers = len(client.scheduler_info()["workers"])
    assert "process_batch" in ran, ran  # Dask strips the leading underscore
    assert workers == 3
    assert digests(remote) == digests(local)
    assert len(digests(local)) == 37


def test_scheduler_needs_dask_executor(corpus, tmp_path, env_key):
    result = CliRunner().invoke(
        main,
        [
            "run",
            str(corpus / "input"),
            "-o",
            str(tmp_path / "o"),
            "--scheduler",
            "tcp://127.0.0.1:1",
        ],
    )
    assert result.exit_code == 2 and "--scheduler needs --executor dask" in result.output
