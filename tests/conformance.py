"""Conformance and science checks over real files, shared by the tests.

Every DICOM file shipped in pydicom's test data and in the pydicom-data
package goes through deid one file at a time (duplicate SOP Instance UIDs
across those files would otherwise clash). Each output is compared with its
input: dciodvfy's messages (numbers and UIDs stripped) and the values that
science needs.
"""

from __future__ import annotations

import re
import subprocess
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

from deid.dicom_io import drop_pixel_surplus, sniff

# Values an imaging scientist needs unchanged, wherever they sit.
SCIENCE = frozenset(
    {
        # waveforms
        "WaveformData", "NumberOfWaveformChannels", "NumberOfWaveformSamples",
        "SamplingFrequency", "ChannelSensitivity", "WaveformBitsAllocated",
        "WaveformSampleInterpretation", "ChannelSourceSequence", "MultiplexGroupLabel",
        "ChannelLabel",
        # acquisition and reconstruction (PET harmonisation, SUV; MR nucleus)
        "ReconstructionMethod", "AttenuationCorrectionMethod", "ScatterCorrectionMethod",
        "ImagedNucleus",
        # segmentations
        "SegmentNumber", "SegmentAlgorithmType", "ReferencedSegmentNumber", "SegmentationType",
        # radiotherapy
        "ROINumber", "ReferencedROINumber", "ContourData", "NumberOfContourPoints",
        "ContourGeometricType", "BeamNumber", "BeamMeterset", "DoseGridScaling", "DoseUnits",
        "DoseType", "GridFrameOffsetVector", "ControlPointIndex", "CumulativeMetersetWeight",
        # structured reports
        "NumericValue", "RelationshipType",
        # geometry and frames
        "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "SliceThickness",
        "StackID", "InStackPositionNumber", "DimensionIndexValues", "TemporalPositionIndex",
        "RescaleSlope", "RescaleIntercept", "Rows", "Columns", "BitsAllocated",
        "NumberOfFrames",
    }
)
# Codes that carry meaning: concept names and units (CodeValue, scheme).
CODE_PARENTS = frozenset({"ConceptNameCodeSequence", "MeasurementUnitsCodeSequence"})


def dicom_files(*roots: Path) -> list[Path]:
    """Every DICOM file (by content) under the roots, in a stable order."""
    found = []
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file() and sniff(path):
                found.append(path)
    return found


def shipped_roots() -> list[Path]:
    import data_store  # pydicom-data

    data = Path(pydicom.__file__).parent / "data"
    return [data / "test_files", data / "charset_files", Path(data_store.__file__).parent / "data"]


UNREADABLE = ("read failed", "Information Object Not found", "Assertion")


def dciodvfy_kinds(path: Path) -> frozenset[str] | None:
    """dciodvfy's errors and warnings with numbers and UIDs stripped; None when
    it cannot read the file or does not know its IOD (nothing to compare)."""
    run = subprocess.run(
        ["dciodvfy", str(path)], capture_output=True, text=True, errors="replace", timeout=120
    )
    text = run.stdout + run.stderr
    if any(marker in text for marker in UNREADABLE):
        return None
    found = (re.search(r"\b(?:Error|Warning) - .*", line) for line in text.splitlines())
    return frozenset(re.sub(r"\d[\d.]*", "#", m.group(0).strip()) for m in found if m)


input_kinds = cache(dciodvfy_kinds)  # inputs are the same for every profile


# Removed by Table E.1-1 on purpose: icons are thumbnails that can show
# burned-in text; acquisition context is X/Z unless clean-structured-content.
NOT_SCIENCE = frozenset({"IconImageSequence", "AcquisitionContextSequence"})


def _walk(ds: Dataset, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str, object]]:
    for elem in ds:
        if elem.tag.is_private or elem.keyword in NOT_SCIENCE:
            continue
        if elem.VR == "SQ":
            for item in elem.value or []:
                yield from _walk(item, (*path, elem.keyword))
            continue
        yield path, elem.keyword, elem.value


def _is_report_code(path: tuple[str, ...], keyword: str) -> bool:
    """Concept names and units of a structured report's content tree."""
    in_tree = not path[:-1] or "ContentSequence" in path
    if keyword == "ValueType":
        return in_tree
    return bool(path) and path[-1] in CODE_PARENTS and in_tree and keyword in (
        "CodeValue", "CodingSchemeDesignator"
    )


def science(ds: Dataset) -> Counter[tuple[str, str]]:
    """The science values of a data set, as a multiset (order-free)."""
    found: Counter[tuple[str, str]] = Counter()
    for path, keyword, value in _walk(ds):
        if (keyword in SCIENCE and keyword != "ValueType") or _is_report_code(path, keyword):
            found[(keyword, repr(value))] += 1
    return found


def read(path: Path) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path, force=True)


@dataclass
class Comparison:
    """What one profile did to the corpus."""

    profile: str
    compared: int = 0
    new_kinds: dict[str, list[str]] = field(default_factory=dict)
    science_lost: dict[str, list[str]] = field(default_factory=dict)
    pixels_changed: list[str] = field(default_factory=list)
    not_written: dict[str, str] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)

    def compare(self, source: Path, output: Path, redacted: bool) -> None:
        name = str(source)
        before, after = input_kinds(source), dciodvfy_kinds(output)
        if before is None:
            self.unreadable.append(name)
        else:
            self.compared += 1
            unreadable = frozenset({"(dciodvfy cannot read the output)"})
            extra = sorted((after if after is not None else unreadable) - before)
            if extra:
                self.new_kinds[name] = extra
        src, out = read(source), read(output)
        lost = science(src) - science(out)
        if lost:
            self.science_lost[name] = sorted(f"{k}={v[:60]}" for k, v in lost)
        drop_pixel_surplus(src)  # bytes after the last frame are no part of the image
        if not redacted and src.get("PixelData") != out.get("PixelData"):
            self.pixels_changed.append(name)
