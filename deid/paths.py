"""Resolving a path the user named, whatever it points at.

`Path.resolve()` raises RuntimeError on a symbolic-link loop (Python 3.11),
and a named input, or a file met in an input folder, may be one. Where deid
only needs to compare or show where a path is, the loop is left to the
per-file read, which reports it as that file's failure.
"""

from __future__ import annotations

import errno
import io
import os
import stat
from pathlib import Path
from typing import BinaryIO


def resolved(path: Path | str) -> Path:
    """The path with links resolved, or made absolute where they loop."""
    try:
        return Path(path).resolve()
    except (RuntimeError, OSError):
        return Path(os.path.abspath(path))


def open_regular(path: Path | str) -> BinaryIO:
    """A file deid reads (an input, an output read back), opened without
    waiting. The walk refuses pipes and devices, but one put in a file's
    place while the run goes on would block the read for ever: the open
    itself does not wait, and anything but a regular file is an OSError
    that says what it is."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file (a pipe, a device or a socket)")
        os.set_blocking(fd, True)
        raw = io.FileIO(fd, "rb")
        raw.name = os.fspath(path)  # type: ignore[misc] # pydicom reopens deferred values by name
        return io.BufferedReader(raw)
    except BaseException:
        os.close(fd)
        raise
