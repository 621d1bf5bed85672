"""How pixel data is examined: one immutable value shared by run and scan."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import cache
from pathlib import Path

from deid.errors import UsageError, enum_value

DATA = Path(__file__).resolve().parent.parent.parent / "profiles" / "pixels"
if not DATA.is_dir():  # installed wheel: profiles ship inside the package
    DATA = Path(__file__).resolve().parent.parent / "_profiles" / "pixels"


class PixelMode(StrEnum):
    AUTO = "auto"  # files that can carry burned-in text
    ALL = "all"
    OFF = "off"


class RedactMode(StrEnum):
    PHI = "phi"  # all but allow-listed markers
    ALL_TEXT = "all-text"
    NONE = "none"  # detect and report only


# Modalities whose images routinely carry burned-in text (PS3.3 C.7.6.1.1.3
# and practice): ultrasound, captures, projection X-ray, endoscopy/photos,
# scanned documents. The one list: run, scan and the header check read it.
PRONE_MODALITIES = frozenset(
    {
        "US", "IVUS", "SC", "OT", "CR", "DX", "XA", "RF", "MG", "IO", "PX", "ES", "XC",
        "GM", "SM", "OP", "DOC", "BDUS", "EPS", "OPT",
    }
)


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


@dataclass(frozen=True)
class PixelSettings:
    """How burned-in text is looked for; a bad mode is refused when built."""

    mode: PixelMode = PixelMode.AUTO
    redact: RedactMode = RedactMode.PHI
    allowlists: tuple[Path, ...] = (DATA / "allowlist.toml",)
    region_rules: tuple[Path, ...] = (DATA / "regions.toml",)
    # BurnedInAnnotation NO is a claim, often wrong: believed only when asked.
    trust_declared: bool = False
    # With mode ALL: why every image is examined when deid itself chose it
    # (a sample of a series, a series found to carry text); "" for --pixels all.
    forced: str = ""
    # Why a clean picture cannot be claimed although every frame is examined
    # (its series carries text and could not be checked for constant text):
    # BurnedInAnnotation NO and 113101 are then not written.
    unverified: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", enum_value(PixelMode, self.mode, "--pixels"))
        object.__setattr__(self, "redact", enum_value(RedactMode, self.redact, "--redact"))

    @property
    def redacts(self) -> bool:
        """Whether examined pixels may be changed."""
        return self.mode is not PixelMode.OFF and self.redact is not RedactMode.NONE

    def examining_all(self, why: str, unverified: str = "") -> PixelSettings:
        """The same settings examining every image, for `why` (deid's own choice)."""
        return replace(self, mode=PixelMode.ALL, forced=why, unverified=unverified)

    @classmethod
    def build(
        cls,
        mode: str = "auto",
        redact: str = "phi",
        allowlists: tuple[Path, ...] = (),
        region_rules: tuple[Path, ...] = (),
        trust_declared: bool = False,
    ) -> PixelSettings:
        for path in (*allowlists, *region_rules):
            if not Path(path).is_file():
                raise UsageError(f"{path}: no such file")
        settings = cls(
            mode,
            redact,
            (DATA / "allowlist.toml", *map(Path, allowlists)),
            (DATA / "regions.toml", *map(Path, region_rules)),
            trust_declared,
        )
        if settings.mode is not PixelMode.OFF:
            from deid.pixels.classify import load_allowlist
            from deid.pixels.regions import load_rules

            tesseract_available()  # a missing binary is a usage error up front
            load_allowlist(*settings.allowlists)  # bad data files fail before any work
            load_rules(*settings.region_rules)
        return settings
