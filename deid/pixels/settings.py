"""How pixel data is examined: one immutable value shared by run and scan."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from deid.errors import UsageError

DATA = Path(__file__).resolve().parent.parent.parent / "profiles" / "pixels"
if not DATA.is_dir():  # installed wheel: profiles ship inside the package
    DATA = Path(__file__).resolve().parent.parent / "_profiles" / "pixels"

MODES = ("auto", "all", "off")


@cache
def tesseract_available() -> str:
    """The tesseract binary (its tessdata is what OCR reads with), or a
    one-line error saying how to get it."""
    path = shutil.which("tesseract")
    if not path:
        raise UsageError(
            "tesseract is not installed (needed to read burned-in text): install Debian's "
            "tesseract-ocr package, or run with --pixels off"
        )
    return path


REDACT = ("phi", "all-text", "none")


@dataclass(frozen=True)
class PixelSettings:
    mode: str = "auto"  # auto: modalities that carry burned-in text | all | off
    redact: str = "phi"  # phi: all but allow-listed markers | all-text | none
    allowlists: tuple[Path, ...] = (DATA / "allowlist.toml",)
    region_rules: tuple[Path, ...] = (DATA / "regions.toml",)

    @classmethod
    def build(
        cls,
        mode: str = "auto",
        redact: str = "phi",
        allowlists: tuple[Path, ...] = (),
        region_rules: tuple[Path, ...] = (),
    ) -> PixelSettings:
        if mode not in MODES:
            raise UsageError(f"--pixels must be one of {', '.join(MODES)}, not {mode!r}")
        if redact not in REDACT:
            raise UsageError(f"--redact must be one of {', '.join(REDACT)}, not {redact!r}")
        for path in (*allowlists, *region_rules):
            if not Path(path).is_file():
                raise UsageError(f"{path}: no such file")
        settings = cls(
            mode,
            redact,
            (DATA / "allowlist.toml", *map(Path, allowlists)),
            (DATA / "regions.toml", *map(Path, region_rules)),
        )
        if mode != "off":
            from deid.pixels.classify import load_allowlist
            from deid.pixels.regions import load_rules

            tesseract_available()  # a missing binary is a usage error up front
            load_allowlist(*settings.allowlists)  # bad data files fail before any work
            load_rules(*settings.region_rules)
        return settings
