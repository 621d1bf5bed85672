"""Reading the TOML data files deid ships and users extend (allow-lists,
region rules, thresholds): one place for the one-line errors they give."""

from __future__ import annotations

import tomllib
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
