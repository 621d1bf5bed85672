"""Process-wide state deid changes while it runs, and puts back after.

The engine ignores pydicom's warnings per file (the report says what it did
about odd values), runs OpenCV without its thread pool (deid.cv says why) and
limits Tesseract to one OpenMP thread (deid's processes already use every
core). Each is the whole process's: a program that imports deid as a
library must find them as they were once deid returns, also when it calls
deid from several threads at once. `warnings.catch_warnings` alone cannot
promise that: two overlapping calls left warnings ignored for good. So the
first call in sets them, and the last one out restores them.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

OMP_LIMIT = "OMP_THREAD_LIMIT"

_lock = threading.Lock()
_depth = 0
_undo: list[Callable[[], None]] = []
_cv2: Any = None


_forking = threading.local()  # the forking thread is the child's only one


@contextmanager
def forking_worker() -> Iterator[None]:
    """deid forks one of its workers: the child keeps deid's settings for its
    whole life (it only ever runs deid's work) and touches no library at
    the fork, OpenCV included, whose locks another thread may hold."""
    _forking.worker = True
    try:
        yield
    finally:
        _forking.worker = False


def _after_fork_in_child() -> None:
    """Any child starts with the lock anew: a thread of the parent may have
    held it, and the child's first call would wait for ever. A child the
    host forked while deid ran in one of its threads starts with the host's
    state put back, as a process of the host's own."""
    global _lock, _depth
    _lock = threading.Lock()
    if getattr(_forking, "worker", False):
        _forking.worker = False
        return
    if _depth:
        for undo in reversed(_undo):
            undo()
    _undo.clear()
    _depth = 0


os.register_at_fork(after_in_child=_after_fork_in_child)


@contextmanager
def while_deid_runs() -> Iterator[None]:
    """Within the block (any number of them, nested or in threads), deid's
    process-wide settings hold; after the last one, the host's are back."""
    global _depth
    with _lock:
        if _depth == 0:
            _undo[:] = _apply()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                for undo in reversed(_undo):
                    undo()
                _undo.clear()


def opencv_loaded(cv2: Any) -> None:
    """deid.cv calls this as it imports OpenCV: inside a run, its pool goes
    off at once (and comes back after); later runs turn it off as they start."""
    global _cv2
    with _lock:
        _cv2 = cv2
        if _depth:
            _undo.append(_pool_off(cv2))


def _apply() -> list[Callable[[], None]]:
    # The filters as the host has them, restored at the end whatever the
    # per-file blocks (each its own catch_warnings) left behind.
    saved = warnings.catch_warnings()
    saved.__enter__()
    undo: list[Callable[[], None]] = [lambda: saved.__exit__(None, None, None)]
    if OMP_LIMIT not in os.environ:
        os.environ[OMP_LIMIT] = "1"
        undo.append(lambda: os.environ.pop(OMP_LIMIT, None))
    if _cv2 is not None:
        undo.append(_pool_off(_cv2))
    return undo


def _pool_off(cv2: Any) -> Callable[[], None]:
    before = cv2.getNumThreads()
    cv2.setNumThreads(0)
    return lambda: cv2.setNumThreads(before)
