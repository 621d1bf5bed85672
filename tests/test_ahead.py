"""Work run ahead in a background thread (deid.ahead): the consumer gets
every item in order, the producer stays a bounded distance ahead, errors
and early stops reach the right thread, and no worker forks mid-import."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from deid.ahead import FORK_LOCK, Ahead, in_background
from deid.executors import ExecutorSettings, Task, results


def _counting(produced: list[int], cleaned: list[str], stop: int = 50) -> Iterator[int]:
    try:
        for i in range(stop):
            produced.append(i)
            yield i
    finally:
        cleaned.append(threading.current_thread().name)


def _wait_until(condition, seconds: float = 5.0) -> None:  # noqa: ANN001 - a callable
    end = time.monotonic() + seconds
    while not condition() and time.monotonic() < end:
        time.sleep(0.01)


def test_items_arrive_in_order_and_the_producer_stays_close_ahead() -> None:
    produced: list[int] = []
    cleaned: list[str] = []
    ahead = Ahead(_counting(produced, cleaned), depth=3)
    taken = iter(ahead)
    assert next(taken) == 0
    time.sleep(0.3)  # room for the producer to run as far as it may
    # One item taken, three waiting, one in the producer's hand: no more.
    assert len(produced) <= 5
    assert list(taken) == list(range(1, 50))
    ahead.close()
    assert cleaned == ["deid-ahead"]  # the source's cleanup ran in the producer


def test_an_error_in_the_source_reaches_the_consumer_after_the_items_before_it() -> None:
    def failing() -> Iterator[int]:
        yield 1
        raise ValueError("series 2 unreadable")

    ahead = Ahead(failing(), depth=2)
    got: list[int] = []
    with pytest.raises(ValueError, match="series 2 unreadable"):
        for item in ahead:
            got.append(item)
    assert got == [1]
    ahead.close()


def test_closing_early_stops_the_producer_and_runs_the_source_cleanup() -> None:
    produced: list[int] = []
    cleaned: list[str] = []
    ahead = Ahead(_counting(produced, cleaned, stop=10**9), depth=2)
    assert next(iter(ahead)) == 0
    ahead.close()  # the consumer stops listening (an interrupted run)
    assert cleaned == ["deid-ahead"]
    count = len(produced)
    time.sleep(0.2)
    assert len(produced) == count < 10  # nothing runs after close


def test_a_worker_is_not_forked_while_a_background_thread_imports() -> None:
    """A fork while another thread holds a module's import lock leaves the
    child hanging on its first import of that module."""
    inside, release = threading.Event(), threading.Event()

    def importing() -> None:
        inside.set()
        release.wait(10)

    loader = in_background(importing)
    assert inside.wait(5) and FORK_LOCK.locked()
    done: list[list[str]] = []
    task = Task(_echo, None, lambda item, reason, died: f"failed: {reason}")
    config = ExecutorSettings("local", 2)
    runner = threading.Thread(
        target=lambda: done.append(list(results([("a", True), ("b", True)], task, config)))
    )
    runner.start()
    time.sleep(0.5)
    assert not done  # the workers wait for the import to end
    release.set()
    loader.join(5)
    runner.join(30)
    assert sorted(done[0]) == ["a", "b"]
    assert not FORK_LOCK.locked()


def _echo(path: str, _whole: bool, _settings: None) -> str:
    return path
