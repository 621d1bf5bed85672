"""What a worker process may take, and how it follows the main process.

Memory: each local worker gets an even share of the machine's memory (the
smaller of physical memory and a cgroup limit, divided by the workers, at
least MIN_BUDGET), as RLIMIT_DATA. A file that needs more fails in that
worker with a MemoryError, reported as a reason, instead of the kernel
killing whichever process is largest, or the machine swapping to a halt.

Lifetime: a worker must not outlive the run that started it (an orphan would
go on publishing outputs for a run that is gone). On Linux the kernel sends
it a signal when its parent dies (PR_SET_PDEATHSIG); elsewhere a thread
watches the parent's process id.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
import signal
import sys
import threading
import time
from pathlib import Path

MIN_BUDGET = 1 << 30
_PR_SET_PDEATHSIG = 1
_CGROUP_LIMIT = Path("/sys/fs/cgroup/memory.max")


def available_cores() -> int:
    """Cores this process may run on (a container may allow fewer than exist)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def machine_memory() -> int | None:
    """Bytes this process's machine (or container) may use, if known."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = None
    try:
        limit = int(_CGROUP_LIMIT.read_text().strip())  # "max": no limit
    except (OSError, ValueError):
        limit = None
    known = [n for n in (total, limit) if n and n > 0]
    return min(known) if known else None


def memory_budget(workers: int) -> int | None:
    memory = machine_memory()
    if memory is None:
        return None
    return max(memory // max(workers, 1), MIN_BUDGET)


def set_memory_budget(budget: int | None) -> None:
    """Limit this process's data (heap and private mappings) to `budget`."""
    if budget is None:
        return
    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY:
        budget = min(budget, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (budget, hard))


def out_of_memory_reason() -> str:
    """The one-line reason for a file that exhausted its worker's memory."""
    soft, _ = resource.getrlimit(resource.RLIMIT_DATA)
    if soft == resource.RLIM_INFINITY:
        return "ran out of memory while processing this file"
    return (
        f"needs more memory than a worker may use ({soft >> 20} MiB: the machine's memory "
        "shared by the workers); run it with fewer --jobs"
    )


def die_with_parent(parent: int) -> None:
    """SIGTERM this process when `parent` (the main process) is gone."""
    if sys.platform.startswith("linux") and _set_parent_death_signal(signal.SIGTERM):
        if os.getppid() != parent:  # it died before the signal was armed
            raise SystemExit(128 + signal.SIGTERM)
        return
    threading.Thread(target=_watch, args=(parent,), daemon=True, name="deid-parent").start()


def _set_parent_death_signal(signum: int) -> bool:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(0.5)
    os.kill(os.getpid(), signal.SIGTERM)
