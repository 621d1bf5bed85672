"""The Dask executor writes the same bytes as local processes, scans the
same way, and the cluster deid starts is closed to everyone else."""

from __future__ import annotations

import gc
import hashlib
import http.client
import urllib.error
import urllib.request
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
    assert "run_batch" in ran, ran  # Dask strips the leading underscore
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


def test_scan_on_dask_matches_local_scan(corpus, tmp_path):
    reports = {}
    for executor in ("local", "dask"):
        result = CliRunner().invoke(
            main,
            ["scan", str(corpus / "input"), "-j", "2", "--executor", executor,
             "--report-dir", str(tmp_path / executor)],
        )  # fmt: skip
        assert result.exit_code == 1, result.output
        reports[executor] = (tmp_path / executor / "findings.csv").read_text()
    assert reports["dask"] == reports["local"] and reports["local"].count("\n") > 100


def test_cluster_deid_starts_admits_no_one_else(corpus, tmp_path, env_key, monkeypatch):
    """Another local user (here: a client without this run's certificate, or
    with one of its own) can neither connect to the scheduler deid starts,
    nor read anything from its HTTP ports."""
    from deid.api import deidentify
    from tests.helpers import run_settings

    started = []
    real = distributed.LocalCluster

    class Recorded(real):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            started.append(self)

    monkeypatch.setattr(distributed, "LocalCluster", Recorded)
    attempts: dict[str, str] = {}

    def attack(_result) -> None:
        if attempts:
            return
        address = started[0].scheduler_address
        attempts["address"] = address
        for name, security in (("none", None), ("own", distributed.Security.temporary())):
            try:
                with distributed.Client(address, timeout="5s", security=security):
                    attempts[name] = "connected"
            except Exception as exc:  # noqa: BLE001 - any refusal will do
                attempts[name] = type(exc).__name__
            # A refused Client closes itself when collected; collected inside
            # the next Client's start, it waits on a lock that start holds.
            gc.collect()
        attempts["http"] = _http_answers(started[0])

    settings = run_settings(
        inputs=[corpus / "input"], output=tmp_path / "out", jobs=2, executor="dask"
    )
    deidentify([corpus / "input"], settings, attack)
    assert attempts["address"].startswith("tls://127.0.0.1:"), attempts
    assert attempts["none"] != "connected" and attempts["own"] != "connected", attempts
    assert attempts["http"] == [], attempts


def _http_answers(cluster) -> list[str]:
    """Paths any HTTP port of the scheduler or its workers serves."""
    import psutil

    answered = []
    processes = [psutil.Process(), *psutil.Process().children(recursive=True)]
    ports = {c.laddr.port for p in processes for c in p.net_connections("tcp")
             if c.status == "LISTEN" and c.laddr.ip == "127.0.0.1"}  # fmt: skip
    for port in ports:
        for path in ("/health", "/info/main/workers.html", "/json/counts.json", "/status"):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2):
                    answered.append(f"{port}{path}")
            except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException):
                pass  # refused, reset, not HTTP (the scheduler's own port): nothing served
    return answered
