"""Native decoders' own messages kept off the terminal.

GDCM's bundled OpenJPEG prints what it finds wrong in a codestream ("Tile
part length size inconsistent with stream length") straight to the
process's stderr, beside deid's one line for the file; pydicom then raises,
and that reason is what the report and the terminal give. Python cannot
catch a C library's writes, only point the file descriptor elsewhere while
it runs.

The descriptor belongs to the whole process. In a batch's worker process
nothing of deid's writes there (results go back through a pipe; its
read-ahead threads print nothing), so it is pointed away whenever pixel
data is decoded. Elsewhere (the main process, a library's host) only while
no other thread runs, so that no line of deid's own (a progress bar, another
file's failure) or of the host's can be lost in the window.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_STDERR = 2
_in_worker = False


def in_worker() -> None:
    """This process is one of deid's workers: its fd 2 carries nothing of ours."""
    global _in_worker
    _in_worker = True


@contextmanager
def native_messages_dropped() -> Iterator[None]:
    """Within the block, writes to fd 2 go nowhere (see the module's note)."""
    alone = _in_worker or threading.active_count() == 1
    saved = _point_away() if alone else None
    try:
        yield
    finally:
        if saved is not None:
            os.dup2(saved, _STDERR)
            os.close(saved)


def _point_away() -> int | None:
    try:
        sys.stderr.flush()
        saved = os.dup(_STDERR)
    except (OSError, ValueError, AttributeError):
        return None  # no stderr to keep: nothing reaches a terminal anyway
    try:
        null = os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC)
    except OSError:
        os.close(saved)
        return None
    os.dup2(null, _STDERR)
    os.close(null)
    return saved
