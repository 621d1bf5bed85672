"""Reading the files users name beside their data (keys, profiles,
baselines, allow-lists, region rules, thresholds): one place for the
one-line errors they give, and for the bound on how much is read (a
device named by mistake, /dev/zero, would otherwise fill memory)."""

from __future__ import annotations

import errno
import os
import stat
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from deid.errors import UsageError

MIB = 1 << 20
DATA_FILE_BYTES = 16 * MIB  # profiles, allow-lists, rules, thresholds: kilobytes


class TooLarge(OSError):
    """More bytes than a file of its kind holds."""

    def __init__(self, limit: int) -> None:
        size = f"{limit // MIB} MiB" if limit >= MIB else f"{limit >> 10} KiB"
        super().__init__(errno.EFBIG, f"larger than {size}: not such a file")


def read_bounded(path: Path, limit: int) -> bytes:
    """The file's bytes, or TooLarge past `limit` (never more is read). A
    device is refused unread; a pipe is read (a key passed as <(...))."""
    with open(path, "rb") as fh:
        mode = os.fstat(fh.fileno()).st_mode
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            raise OSError(errno.ENODEV, "a device, not a file")
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(limit)
    return data


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """The file's tables, or a UsageError naming the file and what it is."""
    try:
        return tomllib.loads(read_bounded(Path(path), DATA_FILE_BYTES).decode("utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read {what}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML for {what}: {exc}") from exc
    except RecursionError:  # arrays or tables nested a thousand deep
        raise UsageError(f"{path}: cannot read {what}: values nested too deep") from None


def only_keys(path: Path | str, what: str, table: Any, known: frozenset[str]) -> None:
    """A key the file's reader does not know is refused: a misspelt one
    (`[[rules]]`, `wordz`) would otherwise be a rule that silently does
    nothing."""
    if not isinstance(table, dict):
        raise UsageError(f"{path}: malformed {what}: a table expected")
    unknown = sorted(set(table) - known)
    if unknown:
        raise UsageError(
            f"{path}: unknown key(s) in {what}: {', '.join(map(repr, unknown))} "
            f"(known: {', '.join(sorted(known))})"
        )


@contextmanager
def malformed(path: Path, what: str) -> Iterator[None]:
    """A value of the wrong kind in a data file (a number where a list
    belongs...) is one line naming the file, not a traceback."""
    try:
        yield
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"{path}: malformed {what}: {reason}") from None
