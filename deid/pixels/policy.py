"""Which files' pixels are examined for burned-in text, and why.

Modality alone is a poor guide: a screen capture is a capture whatever its
Modality says, and an MR image can carry the patient's name with no
BurnedInAnnotation at all. The decision reads the SOP class, the image type,
the conversion type and the descriptions as well:

- captures (Secondary Capture family, screen saves, scanned or converted
  images), DERIVED / SECONDARY images, localizers and dose reports, and
  every modality that routinely carries text, are examined one by one;
- ORIGINAL slices of cross-sectional series (CT, MR, PT, NM) are examined
  per series (deid.pixels.series): a few slices of each, plus a check of
  pixel values constant across every slice, and every slice when either
  finds text. A series of one file is examined whole;
- images of any other kind are examined: not knowing is no reason to skip.

A file of a kind that can carry text and is not examined (`--pixels off`, or
a trusted BurnedInAnnotation NO) is a finding, never silence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import cache

from pydicom.dataset import Dataset
from pydicom.uid import UID_dictionary

from deid.pixels.settings import PRONE_MODALITIES, PixelMode, PixelSettings
from deid.risk.findings import Severity

# Cross-sectional modalities whose ORIGINAL images come as series of slices.
SERIES_MODALITIES = frozenset({"CT", "MR", "PT", "NM"})

# Words of ImageType values and descriptions that name a text-carrying kind.
CAPTURE_TYPES = frozenset({"SECONDARY", "SCREEN SAVE", "SCREENSAVE", "SCREEN_SAVE", "CAPTURE"})
LOCALIZER_TYPES = frozenset({"LOCALIZER", "LOCALISER", "SCOUT", "TOPOGRAM", "SURVIEW"})
DOSE_TYPES = frozenset({"DOSE_INFO", "DOSE INFO", "DOSE REPORT", "DOSE_REPORT", "REPORT"})
DESCRIPTION_WORDS = re.compile(
    r"\b(DOSE|SCREEN ?SAVE|SCREEN|CAPTURE|SNAPSHOT|REPORT|SUMMARY|SCOUT|TOPOGRAM|SURVIEW|"
    r"LOCALI[SZ]ER|LOCATOR|PATIENT PROTOCOL|EXAM PROTOCOL)\b"
)
DESCRIPTIONS = ("SeriesDescription", "ImageComments", "DerivationDescription", "ProtocolName")

# The reasons files examined for their series give (report summary.pixels).
SAMPLE_REASON = "a sample of its series (first, middle and last slices)"
TEXT_REASON = "its series carries burned-in text: every slice examined"


@cache
def _sop_classes(*words: str) -> frozenset[str]:
    """SOP classes whose standard name holds one of `words` (pydicom's UID
    dictionary, generated from PS3.6): the table follows the standard."""
    return frozenset(
        uid
        for uid, (name, kind, *_) in UID_dictionary.items()
        if kind == "SOP Class" and any(w in name for w in words)
    )


def capture_classes() -> frozenset[str]:
    """Captures and photographs: screens, scans, video, photographs of anything."""
    return _sop_classes("Secondary Capture", "Photographic", "Video", "VL ", "Dermoscopic")


def textless_classes() -> frozenset[str]:
    """Images that are data, not pictures: masks, maps and dose grids, where a
    text-like shape is science to keep."""
    return _sop_classes("Segmentation", "Parametric Map", "RT Dose", "Label Map")


class Verdict(StrEnum):
    EXAMINE = "examined"
    SERIES = "sampled by series"
    SKIP = "not examined"
    NO_IMAGE = "no image"

    @classmethod
    def of(cls, decision: str) -> Verdict | None:
        """The verdict a decision text (a report's summary.pixels) starts with."""
        head = decision.partition(":")[0]
        return cls(head) if head in cls._value2member_map_ else None


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str
    # Not examining a file of this kind is a finding of this severity (None: no finding).
    unexamined: Severity | None = None
    slice_of_series: bool = False  # an ORIGINAL CT/MR/PT/NM slice, whatever was decided

    @property
    def look(self) -> bool:
        return self.verdict is Verdict.EXAMINE

    @property
    def text(self) -> str:
        return f"{self.verdict}: {self.reason}"


def _text(ds: Dataset, keyword: str) -> str:
    return " ".join(str(ds.get(keyword, "") or "").upper().split())


def _image_type(ds: Dataset) -> list[str]:
    value = ds.get("ImageType", None)
    if value is None:
        return []
    parts = value.split("\\") if isinstance(value, str) else list(value)
    return [" ".join(str(p).upper().split()) for p in parts]


def kind(ds: Dataset) -> tuple[Verdict, str]:
    """What --pixels auto does with this image, by what it is (not by its
    BurnedInAnnotation, which `decide` weighs)."""
    sop = str(ds.get("SOPClassUID", "") or "").strip()
    modality = _text(ds, "Modality")
    image_type = _image_type(ds)
    if sop in textless_classes():
        return Verdict.SKIP, f"{UID_dictionary[sop][0]} holds data, not a picture"
    if sop in capture_classes():
        return Verdict.EXAMINE, f"{UID_dictionary[sop][0]}: a capture can show anything"
    if "ConversionType" in ds:  # its value is not echoed: it may be anything typed there
        return Verdict.EXAMINE, "converted or captured image (it has a ConversionType)"
    typed = set(image_type)
    for found in sorted(typed & (CAPTURE_TYPES | DOSE_TYPES)):
        return Verdict.EXAMINE, f"ImageType {found}: a screen, capture or report"
    if typed & LOCALIZER_TYPES:
        return Verdict.EXAMINE, "a localizer (scout): often annotated"
    if image_type and image_type[0] == "DERIVED":
        return Verdict.EXAMINE, "a DERIVED image: renderings and reformats carry annotations"
    for keyword in DESCRIPTIONS:
        match = DESCRIPTION_WORDS.search(_text(ds, keyword))
        if match:
            return Verdict.EXAMINE, f"{keyword} names a {match.group(1).lower()}"
    if modality in PRONE_MODALITIES:
        return Verdict.EXAMINE, f"modality {modality} often carries burned-in text"
    if modality in SERIES_MODALITIES:
        return Verdict.SERIES, (
            f"ORIGINAL {modality} slice: its series is examined by samples (first, middle, "
            "last) and a check of pixels constant across all slices; all slices if either "
            "finds text"
        )
    # Not echoed: an unknown value may be anything an operator typed there.
    return Verdict.EXAMINE, "modality not one known to be free of text"


def _has_pixels(ds: Dataset, header_only: bool) -> bool:
    if header_only:
        return "Rows" in ds
    return "PixelData" in ds or "FloatPixelData" in ds or "DoubleFloatPixelData" in ds


# Bits allocated of integer pixel data the examination reads and writes
# back (1-bit packed); float pixel data it does not.
EXAMINED_BITS = (1, 8, 16, 32)


def decide(ds: Dataset, settings: PixelSettings, header_only: bool = False) -> Decision:
    """Whether to look at this file's pixels, and why (the reason is reported).
    header_only: ds was read without its pixel data; judge by Rows instead."""
    if not _has_pixels(ds, header_only):
        return Decision(Verdict.NO_IMAGE, "no pixel data")
    verdict, why = kind(ds)
    declared = _text(ds, "BurnedInAnnotation")
    if verdict is Verdict.SKIP:
        # Data, not a picture, whatever its depth or mode: never redacted (an
        # RT dose declaring YES lost its hot spots as "text"). One declaring
        # text is a high finding for a person to review.
        if declared == "YES":
            why += "; it declares burned-in text, and data is not redacted"
            return Decision(Verdict.SKIP, why, Severity.HIGH)
        return Decision(Verdict.SKIP, why)
    bits = int(ds.get("BitsAllocated", 0) or 0)
    floats = not header_only and "PixelData" not in ds
    if bits not in EXAMINED_BITS or floats:
        # Not examined, and said so: 1- and 32-bit images were skipped here
        # without a finding (a 32-bit Secondary Capture declaring its text).
        what = "float pixel data" if floats else f"{bits}-bit pixel data"
        why = f"{what}: {CANNOT_EXAMINE}"
        return Decision(Verdict.SKIP, why, Severity.HIGH if declared == "YES" else Severity.MEDIUM)
    if verdict is Verdict.SERIES and not str(ds.get("SeriesInstanceUID", "") or "").strip():
        # No series to sample: such files were pooled as one "series" across
        # patients, and a slice with text between the samples kept it.
        verdict, why = Verdict.EXAMINE, why.split(":")[0] + " without a SeriesInstanceUID"
    found = _decide(verdict, why, declared, settings)
    if verdict is Verdict.SERIES:
        # Samples are examined by the series step, in one process, after the
        # batch: a worker examining the first slice itself would load the
        # detector for one image (measured: more than the sample costs).
        found = replace(found, slice_of_series=True)
    return found


TRUSTED = "BurnedInAnnotation NO trusted (--trust-burned-in-annotation)"
CANNOT_EXAMINE = "deid cannot examine it"  # under any --pixels mode


def _decide(verdict: Verdict, why: str, declared: str, settings: PixelSettings) -> Decision:
    """For pictures (`decide` has answered for data, which is never examined)."""
    if settings.mode is PixelMode.ALL:
        return Decision(Verdict.EXAMINE, settings.forced or "--pixels all")
    if settings.mode is PixelMode.OFF:
        if declared == "NO" and settings.trust_declared:
            why = f"{TRUSTED}; {why}"  # auto would not examine it either
        off = f"--pixels off (by default: {why})"
        return Decision(Verdict.SKIP, off, _unexamined(verdict, declared))
    if declared == "YES":
        return Decision(Verdict.EXAMINE, "BurnedInAnnotation is YES")
    if declared == "NO" and settings.trust_declared:
        return Decision(
            Verdict.SKIP,
            f"{TRUSTED}; {why}",
            Severity.LOW,
        )
    if declared == "NO":
        why += "; its BurnedInAnnotation NO is not trusted"
    elif not declared:
        why += "; BurnedInAnnotation is missing"
    return Decision(verdict, why)


def _unexamined(verdict: Verdict, declared: str) -> Severity:
    """How much an unexamined file matters: declared text most, then kinds
    examined one by one, then series slices."""
    if declared == "YES":
        return Severity.HIGH
    return Severity.MEDIUM if verdict is Verdict.EXAMINE else Severity.LOW
