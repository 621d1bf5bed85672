"""Reading the TOML data files deid ships and users extend (allow-lists,
region rules, thresholds): one place for the one-line errors they give."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from deid.errors import UsageError


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """The file's tables, or a UsageError naming the file and what it is."""
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read {what}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: {exc}") from exc


@contextmanager
def malformed(path: Path, what: str) -> Iterator[None]:
    """A value of the wrong kind in a data file (a number where a list
    belongs...) is one line naming the file, not a traceback."""
    try:
        yield
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"{path}: malformed {what}: {reason}") from None
