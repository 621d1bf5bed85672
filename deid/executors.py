"""Where per-file work runs: this process, local worker processes, or Dask.

`deid run` and `deid scan` hand each one the same things: a stream of work
(items `(path, flag)`, and results already known, which pass straight
through) and a `Task` (the per-file function, its settings, and how to
report an item that could not be finished). Results come back as they are
ready. Pseudonyms need no shared state, so every executor gives the same
results.

A file can kill the process working on it: a decoder crashing in native
code, the kernel's out-of-memory killer. That costs the file, never the
batch. A local worker streams one result per item, so the item it died on
is known; that item is tried once more alone in a fresh worker (a death
caused by something else then passes) and reported if it kills that one
too ("worker died: signal 9 ..."). On Dask, a batch whose worker died is
split and each item tried alone. Each worker has a memory budget (physical
memory / workers) so one file cannot take the machine; a file that needs
more is reported, not the machine swapped to a halt.

Workers die with the main process (Linux: a parent-death signal, else a
closed pipe), never publish outputs for a run that is gone, and stop within
about a second and a half when the run is interrupted.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import signal
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Generic, TypeVar

from deid.ahead import FORK_LOCK
from deid.dicom_io import prefetch
from deid.errors import DeidWarning, UsageError
from deid.host_state import forking_worker, while_deid_runs
from deid.limits import (
    available_cores,
    die_with_parent,
    memory_budget,
    out_of_memory_reason,
    set_memory_budget,
)
from deid.native_quiet import in_worker

S = TypeVar("S")
R = TypeVar("R")
Work = tuple[str, bool]  # (input path, a flag the task reads)

BATCH = 8  # items sent to a worker at once
DEPTH = 2  # batches a local worker holds, so it never waits for the next
STOP_SECONDS = 1.5  # an interrupted worker gets this long to clean up


@dataclass(frozen=True)
class Task(Generic[S, R]):
    """What each item goes through. `run` is a module-level function (it is
    sent to workers); `failed` builds, in the main process, the result of an
    item that could not be finished, from the item, a one-line reason and
    whether its worker died on it (not just ran out of memory)."""

    run: Callable[[str, bool, S], R]
    settings: S
    failed: Callable[[Work, str, bool], R]
    prefetch: bool = False  # read files ahead for local workers (run reads them whole)
    # What every worker would load for its first item (tables, word lists),
    # loaded once in the main process before local workers fork and share it.
    warm: Callable[[S], None] | None = None


@dataclass(frozen=True)
class ExecutorSettings:
    kind: str = "local"  # local | dask
    jobs: int = 1
    scheduler: str | None = None  # a Dask scheduler; None: a LocalCluster deid starts


def results(work: Iterable[Any], task: Task, config: ExecutorSettings) -> Iterator[Any]:
    """Every result, in the order they are ready. Anything in `work` that is
    not a `Work` tuple is a result already and passes through. Workers fork
    with deid's process-wide settings in force (deid.host_state)."""
    with while_deid_runs():
        yield from _results(work, task, config)


def _results(work: Iterable[Any], task: Task, config: ExecutorSettings) -> Iterator[Any]:
    # A daemonic process (a multiprocessing.Pool worker, a data loader's)
    # may not start processes, local workers or a LocalCluster's: its work
    # runs here, one file at a time. An external scheduler's workers are
    # not its children.
    daemonic = multiprocessing.current_process().daemon
    if config.kind == "dask" and (config.scheduler or not daemonic):
        from deid.dask_executor import DaskExecutor

        with DaskExecutor(config, task) as dask:
            yield from dask.run(work)
    elif config.jobs <= 1 or daemonic:
        yield from _in_process(work, task)
    else:
        pool = LocalPool(config.jobs, task)
        try:
            yield from pool.run(work)
        finally:
            pool.close()


class _Unfinished:
    """What a worker sends back for an item it could not finish."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def run_items(run: Callable, items: Iterable[Work], settings: Any) -> Iterator[Any]:
    """Each item's result, or an _Unfinished; shared by every executor (a
    Dask worker's process gets deid's process-wide settings here)."""
    with while_deid_runs():
        for path, flag in items:
            try:
                yield run(path, flag, settings)
            except MemoryError:
                yield _Unfinished(out_of_memory_reason())


def _in_process(work: Iterable[Any], task: Task) -> Iterator[Any]:
    for item in work:
        if not isinstance(item, tuple):
            yield item
            continue
        for result in run_items(task.run, [item], task.settings):
            if isinstance(result, _Unfinished):
                result = task.failed(item, result.reason, False)
            yield result


def death_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = "unknown"
        why = ": killed, most often for running out of memory" if name == "SIGKILL" else ""
        return f"worker died: signal {-exitcode} ({name}){why}"
    return f"worker died: exit code {exitcode}"


# --------------------------------------------------------------------------
# Local worker processes


def _worker_main(
    conn: Connection, run: Callable, settings: Any, parent: int, budget: int | None
) -> None:
    """A worker: items in, one result per item out, until told to stop or
    the main process is gone."""
    die_with_parent(parent)
    # Ctrl-C reaches the whole process group: the main process decides and
    # stops the workers itself. SIGTERM (from it, or a parent-death signal)
    # ends the file in hand cleanly (its temporary is removed).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    set_memory_budget(budget)
    in_worker()  # native decoders' own messages stay off the terminal
    # What the main process built before the fork is never garbage here: a
    # collection that walks it costs time and copies its pages.
    gc.freeze()
    while True:
        try:
            batch = conn.recv()
        except (EOFError, OSError):
            return  # the main process is gone
        if batch is None:
            return
        for result in run_items(run, batch, settings):
            conn.send(result)


# A worker told to stop (SIGTERM: from the main process, or the kernel when
# the main process dies) stops by an exception, so the file in hand removes
# its temporary. Native code running at that moment can swallow it (seen
# while onnxruntime's extension loaded: the worker lived on, orphaned); the
# alarm then ends it (SIGALRM's default action) a little later.
HARD_STOP_SECONDS = 3


def _exit_on_signal(signum: int, frame: object) -> None:
    signal.alarm(HARD_STOP_SECONDS)
    raise SystemExit(128 + signum)


class _Worker:
    def __init__(self, context: Any, task: Task, budget: int | None) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_worker_main,
            args=(child, task.run, task.settings, os.getpid(), budget),
            daemon=True,
        )
        # Never while a background thread imports (deid.ahead).
        with FORK_LOCK, forking_worker():
            self.process.start()
        child.close()
        self.held: deque[Work] = deque()  # sent, no result yet: the first is in hand
        self.alone = False  # holds one item that killed a worker before

    def send(self, items: list[Work]) -> bool:
        """False if the worker is gone (it died on an item it holds; the
        main loop sees that next): the items were not sent."""
        try:
            self.conn.send(items)
        except OSError:  # BrokenPipeError, ConnectionResetError
            return False
        self.held.extend(items)
        return True

    def received(self) -> Iterator[tuple[Work, Any]]:
        """Results already in the pipe, with their items."""
        while self.held:
            try:
                if not self.conn.poll():
                    return
                result = self.conn.recv()
            except (EOFError, OSError):
                return
            yield self.held.popleft(), result


_END = object()


class LocalPool:
    """Worker processes fed through pipes, a few batches each."""

    def __init__(self, jobs: int, task: Task) -> None:
        methods = multiprocessing.get_all_start_methods()
        self.context = multiprocessing.get_context("fork" if "fork" in methods else None)
        self.task = task
        if task.warm is not None and self.context.get_start_method() == "fork":
            task.warm(task.settings)
        self.budget = memory_budget(jobs)
        self.workers = [_Worker(self.context, task, self.budget) for _ in range(jobs)]
        self.queue: deque[Work] = deque()
        self.suspects: deque[Work] = deque()

    def run(self, work: Iterable[Any]) -> Iterator[Any]:
        source = iter(work)
        more = True
        room = len(self.workers) * BATCH * DEPTH
        while True:
            while more and len(self.queue) < room:
                item = next(source, _END)
                if item is _END:
                    more = False
                elif isinstance(item, tuple):
                    self.queue.append(item)
                else:
                    yield item
            self._dispatch()
            if not any(w.held for w in self.workers):
                if not more and not self.queue and not self.suspects:
                    return
                continue
            yield from self._collect()

    def _dispatch(self) -> None:
        """Suspects go alone to an idle worker; nothing else is sent while any
        wait, so an idle worker soon appears. Otherwise batches fill workers."""
        for i, worker in enumerate(self.workers):
            if not worker.held and not worker.process.is_alive():  # killed while idle
                worker.conn.close()
                worker = self.workers[i] = _Worker(self.context, self.task, self.budget)
            if self.suspects:
                if not worker.held and worker.send([self.suspects[0]]):
                    worker.alone = True
                    self.suspects.popleft()
                continue
            while self.queue and len(worker.held) < BATCH * DEPTH:
                batch = [self.queue.popleft() for _ in range(min(BATCH, len(self.queue)))]
                if not worker.send(batch):
                    self.queue.extendleft(reversed(batch))
                    break
                if self.task.prefetch:
                    prefetch(path for path, _ in batch)

    def _collect(self) -> Iterator[Any]:
        busy = [w for w in self.workers if w.held]
        wait([w.conn for w in busy] + [w.process.sentinel for w in busy])
        for worker in busy:
            for item, result in worker.received():
                if isinstance(result, _Unfinished):
                    result = self.task.failed(item, result.reason, False)
                yield result
            if worker.held and not worker.process.is_alive():
                yield from self._replace(worker)
            elif not worker.held:
                worker.alone = False

    def _replace(self, worker: _Worker) -> Iterator[Any]:
        """A worker died: the item in its hand is a suspect (or, if it was
        already one, is reported); the items behind it go back in the queue."""
        worker.process.join()
        item = worker.held.popleft()
        self.queue.extendleft(reversed(worker.held))
        if worker.alone:
            yield self.task.failed(item, death_reason(worker.process.exitcode), True)
        else:
            self.suspects.append(item)
        worker.conn.close()
        self.workers[self.workers.index(worker)] = _Worker(self.context, self.task, self.budget)

    def close(self) -> None:
        """Normal end: each worker is told to stop. Interrupted (items still
        held): each gets SIGTERM and STOP_SECONDS to remove its temporary,
        then SIGKILL."""
        interrupted = any(w.held for w in self.workers)
        for worker in self.workers:
            with contextlib.suppress(OSError):
                if interrupted:
                    worker.process.terminate()
                else:
                    worker.conn.send(None)
        deadline = time.monotonic() + STOP_SECONDS
        for worker in self.workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()


def worker_count(requested: int | None, kind: str = "local", scheduler: str | None = None) -> int:
    """--jobs: all cores by default. Processes on this machine (local
    workers, or the LocalCluster deid starts) are capped at its cores: more
    only thrash, and --jobs 10000 used to fork until the process limit."""
    cores = available_cores()
    if requested is None:
        return cores
    if requested < 1:
        raise UsageError("--jobs must be at least 1")
    if requested > cores and not (kind == "dask" and scheduler):
        warnings.warn(
            f"--jobs {requested} capped at {cores}, the CPUs this process may use",
            DeidWarning,
            stacklevel=2,
        )
        return cores
    return requested


def check(kind: str, scheduler: str | None) -> None:
    """--executor and --scheduler, refused at the door with one line."""
    if kind not in ("local", "dask"):
        raise UsageError(f"--executor must be local or dask, not {kind!r}")
    if scheduler and kind != "dask":
        raise UsageError("--scheduler needs --executor dask")
    if kind == "dask":
        from deid.dask_executor import check_available, check_scheduler

        check_available()
        if scheduler:
            check_scheduler(scheduler)


__all__ = ["ExecutorSettings", "Task", "check", "results", "worker_count"]
