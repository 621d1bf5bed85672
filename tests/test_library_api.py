"""deid as a library: what a program that imports it finds before and after.

Found by a trial of the API from an ML pipeline's side: settings built
directly, calls from threads and from daemonic workers, the host's own
forks, and the process-wide state a library must leave as it found it.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from deid import api
from deid.writing import exclusive

KEY = api.KeyChoice(environ={"DEID_KEY": "library-test-key-0123456789"})
SOURCES = ("CT_small.dcm", "MR_small.dcm", "rtplan.dcm")


def _inputs(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name in SOURCES:
        shutil.copyfile(get_testdata_file(name), folder / name)
    return folder


def _settings(inputs: Path, out: Path, **pieces) -> api.Settings:
    pieces.setdefault("execution", api.Execution(1))
    pieces.setdefault("pixels", api.PixelSettings.build(mode="off"))
    pieces.setdefault("face", api.FaceSettings(enabled=False))
    destinations = api.Destinations.build([inputs], out)
    return api.build_settings(api.resolve_profile("basic"), destinations, key=KEY, **pieces)


def test_pieces_made_directly_are_checked_as_built_ones_are(tmp_path):
    """`Reporting(fail_on="high")` crashed after every output was written
    (a str compared with a Severity); "no" was taken as a true flag."""
    assert api.Reporting(fail_on="medium").fail_on is api.Severity.MEDIUM
    with pytest.raises(api.UsageError, match="--fail-on must be low, medium or high"):
        api.Reporting(fail_on="hgih")
    with pytest.raises(api.UsageError, match="enabled must be True or False"):
        api.FaceSettings(enabled="no")
    with pytest.raises(api.UsageError, match="whole number of at least 1, not '2'"):
        api.Execution("2")  # type: ignore[arg-type]
    inputs = _inputs(tmp_path / "in")
    settings = _settings(inputs, tmp_path / "out", reporting=api.Reporting(fail_on="high"))
    assert api.deidentify([inputs], settings).exit_code == 0
    assert (tmp_path / "out" / "report.json").is_file()


def test_destinations_made_directly_are_checked_before_anything_is_written(tmp_path):
    inputs = _inputs(tmp_path / "in")
    settings = _settings(inputs, tmp_path / "out")
    inside = api.Destinations(inputs / "out", inputs / "out")
    with pytest.raises(api.UsageError, match="inside input"):
        api.deidentify([inputs], api.build_settings(settings.profile, inside, key=KEY))
    assert sorted(p.name for p in inputs.iterdir()) == sorted(SOURCES)
    with pytest.raises(api.UsageError, match="does not exist"):
        api.deidentify([tmp_path / "nope"], settings)
    assert not (tmp_path / "out").exists()
    with pytest.raises(api.UsageError, match="does not exist"):
        api.scan([tmp_path / "nope"], api.build_scan_settings(settings.profile))


def test_paths_may_be_given_as_text(tmp_path, monkeypatch):
    _inputs(tmp_path / "in")
    monkeypatch.chdir(tmp_path)
    destinations = api.Destinations.build(["in"], "out")  # type: ignore[list-item, arg-type]
    settings = api.build_settings(
        api.resolve_profile("basic"), destinations, key=KEY, execution=api.Execution(1),
        pixels=api.PixelSettings.build(mode="off"), face=api.FaceSettings(enabled=False),
    )  # fmt: skip
    assert api.deidentify(["in"], settings).exit_code == 0  # type: ignore[list-item]
    with api.scan(["in"], api.build_scan_settings(settings.profile)) as outcome:  # type: ignore[list-item]
        assert outcome.statuses["scanned"] == len(SOURCES)


def test_a_scan_writes_its_reports_and_baseline_from_python(tmp_path):
    """The reports and the baseline were the CLI's own code: not reachable
    from the API."""
    inputs = _inputs(tmp_path / "in")
    settings = api.build_scan_settings(api.resolve_profile("basic"), execution=api.Execution(1))
    with api.scan([inputs], settings) as outcome:
        assert outcome.exit_code == 1  # pydicom's test files name people
        api.write_scan_reports(outcome, settings, tmp_path / "rep")
        count = api.write_baseline(tmp_path / "baseline.json", outcome)
    names = {"report.json", "findings.csv", "report.sarif", "report.html"}
    assert names <= {p.name for p in (tmp_path / "rep").iterdir()}
    assert count > 0
    accepted = api.build_scan_settings(
        api.resolve_profile("basic"), execution=api.Execution(1),
        baseline=tmp_path / "baseline.json",
    )  # fmt: skip
    with api.scan([inputs], accepted) as again:
        assert again.exit_code == 0 and not list(again.findings())
    with pytest.raises(api.OutputError, match="cannot write"):
        api.write_baseline(tmp_path / "rep" / "report.json" / "x", again)


def test_calls_from_two_threads_leave_the_hosts_warning_filters_alone(tmp_path):
    """Two overlapping calls left every warning ignored in the host for good
    (warnings.catch_warnings is not thread-safe)."""
    inputs = _inputs(tmp_path / "in")
    before = list(warnings.filters)
    for attempt in range(3):
        runs = [
            threading.Thread(
                target=api.deidentify,
                args=([inputs], _settings(inputs, tmp_path / f"out{attempt}-{i}")),
            )
            for i in range(2)
        ]
        for run in runs:
            run.start()
        for run in runs:
            run.join()
        assert list(warnings.filters) == before
        assert (tmp_path / f"out{attempt}-1" / "report.json").is_file()


def _run_in_daemon(inputs: Path, out: Path, done: multiprocessing.Queue) -> None:
    try:
        settings = _settings(inputs, out, execution=api.Execution.build(2))
        done.put(api.deidentify([inputs], settings).exit_code)
    except BaseException as exc:  # noqa: BLE001 - the test reports what came out
        done.put(repr(exc))


def test_a_daemonic_worker_runs_its_files_in_process(tmp_path):
    """Inside a multiprocessing.Pool or a data loader's worker (daemonic),
    starting workers raised AssertionError: daemonic processes are not
    allowed to have children."""
    inputs = _inputs(tmp_path / "in")
    context = multiprocessing.get_context("fork")
    done = context.Queue()
    worker = context.Process(target=_run_in_daemon, args=(inputs, tmp_path / "out", done))
    worker.daemon = True
    worker.start()
    worker.join(120)
    assert done.get(timeout=5) == 0
    assert len(list((tmp_path / "out").rglob("*.dcm"))) == len(SOURCES)


def test_a_hosts_fork_during_a_run_does_not_keep_its_folder_locked(tmp_path):
    """A child the host forked while deid held OUT's lock inherited the lock:
    the next run into OUT was refused while that child lived."""
    folder = tmp_path / "out"
    folder.mkdir()
    context = multiprocessing.get_context("fork")
    started, release = context.Event(), context.Event()
    with exclusive(folder):
        child = context.Process(target=lambda: (started.set(), release.wait(60)))
        child.start()
        assert started.wait(60)  # the child runs: its copies are closed
    try:
        with exclusive(folder):  # refused while the child held a copy
            pass
    finally:
        release.set()
        child.join()


_OCR_IN_PROCESS = """
import os, sys
from pathlib import Path
import numpy as np
from deid import api
from deid.cv import cv2
from fixtures.burned_in import image_dataset
folder = Path(sys.argv[1]) / "in"
folder.mkdir()
img = np.zeros((256, 512), np.uint8)
cv2.putText(img, "CERVANTES MRN7731904", (10, 120), cv2.FONT_HERSHEY_SIMPLEX, 1.2, 255, 2)
image_dataset(img, "OT").save_as(folder / "text.dcm", enforce_file_format=True)
settings = api.build_settings(
    api.resolve_profile("basic"), api.Destinations.build([folder], folder.parent / "out"),
    key=api.KeyChoice(environ={"DEID_KEY": "library-test-key-0123456789"}),
    execution=api.Execution(1), pixels=api.PixelSettings.build(mode="all"),
    face=api.FaceSettings(enabled=False),
)
outcome = api.deidentify([folder], settings)
print(*outcome.report["totals"]["findings_by_rule"], os.environ.get("OMP_THREAD_LIMIT"))
"""


def test_a_run_leaves_the_hosts_environment_as_it_found_it(tmp_path):
    """OCR in the host's own process set OMP_THREAD_LIMIT there for good."""
    environ = {k: v for k, v in os.environ.items() if k != "OMP_THREAD_LIMIT"}
    environ["PYTHONPATH"] = str(Path(__file__).parents[1])
    done = subprocess.run(
        [sys.executable, "-c", _OCR_IN_PROCESS, str(tmp_path)],
        capture_output=True, text=True, env=environ, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    *rules, limit = done.stdout.split()
    assert "pixels.burned-in-text" in rules, done.stdout  # the text was read: OCR ran
    assert limit == "None"


def test_deid_sets_its_thread_limit_only_while_it_runs(monkeypatch):
    from deid.host_state import OMP_LIMIT, while_deid_runs

    monkeypatch.delenv(OMP_LIMIT, raising=False)
    with while_deid_runs(), while_deid_runs():
        assert os.environ[OMP_LIMIT] == "1"
    assert OMP_LIMIT not in os.environ
    monkeypatch.setenv(OMP_LIMIT, "4")  # the host's own choice stands
    with while_deid_runs():
        assert os.environ[OMP_LIMIT] == "4"
    assert os.environ[OMP_LIMIT] == "4"


def test_the_package_says_it_is_typed():
    assert (Path(api.__file__).parent / "py.typed").is_file()


def test_face_previews_made_directly_never_land_in_the_output_or_an_input(tmp_path):
    """FaceSettings(previews=OUT/...) made directly wrote face renders into
    the shared output: only the CLI checked where previews go."""
    inputs = _inputs(tmp_path / "in")
    out = tmp_path / "out"
    for previews in (out / "faces", inputs / "faces"):
        face = api.FaceSettings(previews=previews)
        with pytest.raises(api.UsageError, match="face renders are face images"):
            api.deidentify([inputs], _settings(inputs, out, face=face))
        settings = api.build_scan_settings(api.resolve_profile("basic"), face=face)
        if previews.is_relative_to(inputs):
            with pytest.raises(api.UsageError, match="face renders are face images"):
                api.scan([inputs], settings)
    assert not out.exists() and not (inputs / "faces").exists()


def _fork_and_report(work) -> str:
    """What `work` returns in a forked child, or "hung" after 20 s."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, never return into pytest
        try:
            os.write(write, str(work()).encode())
        finally:
            os._exit(0)
    os.close(write)
    for _ in range(200):
        done, _status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return "hung"
    with os.fdopen(read, "rb") as fh:
        return fh.read().decode()


def test_a_child_forked_while_another_thread_enters_deid_does_not_hang():
    """The host forked while a thread of it was entering or leaving a deid
    call: the child inherited host_state's lock held and waited for ever in
    its own first call (19 of 20 children hung)."""
    from deid.host_state import while_deid_runs

    stop = threading.Event()

    def calls() -> None:
        while not stop.is_set():
            with while_deid_runs():
                pass

    thread = threading.Thread(target=calls)
    thread.start()
    try:
        results = [_fork_and_report(lambda: while_deid_runs().__enter__()) for _ in range(10)]
    finally:
        stop.set()
        thread.join()
    assert "hung" not in results, results


def test_a_child_the_host_forks_during_a_run_starts_as_the_host_was(monkeypatch):
    """It inherited deid's settings (OpenCV's pool off, OMP_THREAD_LIMIT=1)
    for its whole life; deid's own workers keep them."""
    from deid import host_state
    from deid.cv import cv2

    monkeypatch.delenv("OMP_THREAD_LIMIT", raising=False)

    def state() -> str:
        return f"{host_state._depth} {os.environ.get('OMP_THREAD_LIMIT')} {cv2.getNumThreads()}"

    cv2.setNumThreads(3)
    try:
        with host_state.while_deid_runs():
            assert state() == "1 1 1"  # getNumThreads says 1 with the pool off
            hosts = _fork_and_report(state)
            with host_state.forking_worker():
                workers = _fork_and_report(state)
    finally:
        cv2.setNumThreads(0)  # as the test session keeps it (conftest)
    assert hosts == "0 None 3"
    assert workers == "1 1 1"


def test_a_daemonic_caller_asking_for_dask_works_in_process(tmp_path):
    """A LocalCluster cannot start in a daemonic process either."""
    pytest.importorskip("distributed")
    inputs = _inputs(tmp_path / "in")
    context = multiprocessing.get_context("fork")
    done = context.Queue()

    def run() -> None:
        try:
            execution = api.Execution.build(2, "dask")
            settings = _settings(inputs, tmp_path / "out", execution=execution)
            done.put(api.deidentify([inputs], settings).exit_code)
        except BaseException as exc:  # noqa: BLE001 - the test reports what came out
            done.put(repr(exc))

    worker = context.Process(target=run, daemon=True)
    worker.start()
    worker.join(120)
    assert done.get(timeout=5) == 0


def test_a_key_given_as_bytes_is_used_and_never_shown(tmp_path):
    """From Python the key may come from a secrets manager: no file, no
    environment variable."""
    inputs = _inputs(tmp_path / "in")
    secret = b"library-bytes-key-0123456789"
    choice = api.KeyChoice(key=secret)
    assert secret.decode() not in repr(choice)
    made = []
    for key in (choice, api.KeyChoice(environ={"DEID_KEY": secret.decode()})):
        out = tmp_path / f"out{len(made)}"
        settings = api.build_settings(
            api.resolve_profile("basic"), api.Destinations.build([inputs], out), key=key,
            execution=api.Execution(1), pixels=api.PixelSettings.build(mode="off"),
            face=api.FaceSettings(enabled=False),
        )  # fmt: skip
        assert api.deidentify([inputs], settings).exit_code == 0
        made.append(sorted(p.relative_to(out) for p in out.rglob("*.dcm")))
    assert made[0] == made[1]  # the same key, the same pseudonyms and UIDs
    for bad in (api.KeyChoice(key=b"short"), api.KeyChoice(key=secret, random_key=True)):
        with pytest.raises(api.KeyConfigError):
            bad.load()
