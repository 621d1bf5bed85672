"""Resolving a path the user named, whatever it points at.

`Path.resolve()` raises RuntimeError on a symbolic-link loop (Python 3.11),
and a named input, or a file met in an input folder, may be one. Where deid
only needs to compare or show where a path is, the loop is left to the
per-file read, which reports it as that file's failure.
"""

from __future__ import annotations

import os
from pathlib import Path


def resolved(path: Path | str) -> Path:
    """The path with links resolved, or made absolute where they loop."""
    try:
        return Path(path).resolve()
    except (RuntimeError, OSError):
        return Path(os.path.abspath(path))
