"""Native decoders' own messages kept off the terminal.

GDCM's bundled OpenJPEG prints what it finds wrong in a codestream ("Tile
part length size inconsistent with stream length") straight to the
process's stderr, beside deid's one line for the file; pydicom then raises,
and that reason is what the report and the terminal give. Python cannot
catch a C library's writes, only point the file descriptor elsewhere while
it runs.

The descriptor belongs to the whole process: it is pointed away only while
no other thread runs (a batch's workers), so no line of deid's own (a
progress bar, another file's failure) can be lost in the window.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_STDERR = 2


@contextmanager
def native_messages_dropped() -> Iterator[None]:
    """Within the block, writes to fd 2 go nowhere, if no other thread runs."""
    saved = _point_away() if threading.active_count() == 1 else None
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
