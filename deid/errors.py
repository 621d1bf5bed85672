"""User-facing errors.

Every error a user can cause is a `DeidError` with a one-line message naming
what went wrong and where, so the CLI can print it without a traceback and
map it to an exit code.
"""

from __future__ import annotations

import errno
from enum import StrEnum
from typing import TypeVar

E = TypeVar("E", bound=StrEnum)


class DeidError(Exception):
    """Base for errors that are the user's input, not a bug in deid."""

    exit_code = 2


class ProfileError(DeidError):
    """A profile file is missing, malformed or asks for something impossible."""


class KeyConfigError(DeidError):
    """The pseudonym key is missing, unreadable or too weak."""


class UsageError(DeidError):
    """Options that do not fit together, or paths that cannot be used."""


class InputFileError(DeidError):
    """One input file cannot be processed; the batch goes on without it."""

    exit_code = 3


class OutputError(DeidError):
    """The output, report or linkage folder cannot be written (disk full,
    permissions); what was finished is kept and a re-run resumes."""

    exit_code = 3


class DeidWarning(UserWarning):
    """Something the user should know that does not stop the run (a capped
    --jobs, a key file others can read); the CLI prints each on one line."""


def enum_value(kind: type[E], value: object, what: str) -> E:
    """The enum member for value, or a one-line usage error naming the choices."""
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(m.value for m in kind)
        raise UsageError(f"{what} must be one of {choices}, not {value!r}") from None


def folder_error(message: str, exc: OSError) -> DeidError:
    """A folder deid cannot write into: a path that is a file (or lies under
    one) is the user's configuration (exit 2, as `-o` naming a file); a full
    disk or a permission is the output's (exit 3)."""
    text = f"{message}: {exc.strerror or exc}"
    if exc.errno == errno.EEXIST:  # "File exists" says the opposite of what is wrong
        return UsageError(f"{message}: it exists and is not a folder")
    if exc.errno == errno.ENOTDIR:
        return UsageError(text)
    return OutputError(text)
