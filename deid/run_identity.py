"""One OUT, one way of making outputs: a second run with another key, profile
or options into the same folder would silently add a second copy of every
patient under other pseudonyms. The first run records how it works; a later
run must match it, or is refused before it writes anything.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from deid.errors import UsageError, folder_error
from deid.writing import atomic_write

MARKER = ".deid-run.json"
# What each part means to a person reading the refusal.
_NAMES = {
    "profile": "profile",
    "rules": "profile rules",
    "options": "options",
    "source": "profile file",
    "pixels": "pixel settings",
    "face": "face check",
    "key": "pseudonym key",
}


def claim(
    out: Path, identity: dict[str, str], anonymising: bool = False, record: bool = True
) -> None:
    """Accept a run into OUT, or refuse it with one line naming what differs.
    A dry run checks but records nothing."""
    marker = out / MARKER
    try:
        recorded = json.loads(_read(marker))
    except FileNotFoundError:
        if _has_outputs(out):
            raise UsageError(
                f"{out} already holds outputs of a run deid cannot identify: choose a fresh "
                "output folder"
            ) from None
        if record:
            _write(marker, identity)  # safe to show (Settings.identity)
        return
    except (OSError, ValueError, RecursionError):  # a link (ELOOP), not JSON, nested deep
        raise UsageError(f"{marker} is unreadable: choose a fresh output folder") from None
    differs = [_NAMES[k] for k in _NAMES if recorded.get(k) != identity.get(k)]
    if not differs:
        return
    unrecorded = [_NAMES[k] for k in _NAMES if k not in recorded]
    if unrecorded:
        raise UsageError(
            f"{out} was written by an earlier deid, which did not record its "
            f"{', '.join(unrecorded)}: deid cannot tell whether a run into it now would "
            "make its outputs the same way; choose a fresh output folder"
        )
    if "profile" in differs:  # another profile is another file and other rules: said once
        differs = [d for d in differs if d not in ("profile file", "profile rules")]
    why = (
        "; an anonymising profile draws a new random key every run, so it never adds to "
        "or resumes an earlier output"
        if anonymising and differs == ["pseudonym key"]
        else ""
    )
    raise UsageError(
        f"{out} was written with other settings ({', '.join(differs)}): a run into it now "
        f"{_consequence(differs)}; choose a fresh output folder{why}"
    )


def _consequence(differs: list[str]) -> str:
    """What mixing the two runs would do: other pseudonyms where the key or
    what is pseudonymised differs; otherwise outputs made two ways."""
    if {"pseudonym key", "profile", "profile rules", "options"} & set(differs):
        return "would add a second copy of every patient under other pseudonyms"
    return "would mix outputs made two ways in one release"


def _has_outputs(out: Path) -> bool:
    return out.is_dir() and any(p.suffix == ".dcm" for p in out.rglob("*.dcm"))


def _read(marker: Path) -> str:
    """The marker itself, never what a link in its place points to."""
    fd = os.open(marker, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as fh:
        return fh.read(1 << 16).decode("utf-8")


def _write(marker: Path, identity: dict[str, str]) -> None:
    """Written as every output is (deid.writing): under a fresh temporary
    name, never through a link planted in OUT (a planted `.deid-run.tmp`
    once made this write replace any file, an input among them)."""
    data = (json.dumps(identity, indent=1, sort_keys=True) + "\n").encode("utf-8")
    try:
        atomic_write(marker, data)
    except OSError as exc:
        raise folder_error(f"cannot write into {marker.parent}", exc) from None
