"""RecognizableVisualFeatures and the Clean Recognizable Visual Features
option (113102) from a series' face level, in one place.

A head series is written YES at first (or NO when its header does not name
the head and the images have not been judged yet); once judged, NO where no
face is left (none; low = defaced, by deid or before), YES otherwise, and
no value where the images could not be judged (unjudged). The option is
claimed exactly where the value is NO, and withdrawn (code and method
clause) where it no longer holds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from deid.options import Option

if TYPE_CHECKING:
    from deid.face.assess import FaceResult

CLAUSE = f"option {Option.CLEAN_VISUAL_FEATURES.cli_name}"


def _clauses(ds: Dataset) -> list[str]:
    value = ds.get("DeidentificationMethod")
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, MultiValue | list) else [str(value)]


def set_markers(ds: Dataset, level: str, option_chosen: bool) -> bool:
    """Set the markers for `level`; True when anything changed. A series
    whose images were not judged claims nothing: no value, no option."""
    clean = level in ("none", "low")
    if level == "unjudged":
        changed = "RecognizableVisualFeatures" in ds
        if changed:
            del ds.RecognizableVisualFeatures
    else:
        value = "NO" if clean else "YES"
        changed = ds.get("RecognizableVisualFeatures") != value
        ds.RecognizableVisualFeatures = value
    claim = clean and option_chosen
    codes = ds.get("DeidentificationMethodCodeSequence")
    code = Option.CLEAN_VISUAL_FEATURES.code
    claimed = codes is not None and any(item.get("CodeValue") == code for item in codes)
    if claim and not claimed:
        item = Dataset()
        item.CodeValue = code
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = Option.CLEAN_VISUAL_FEATURES.meaning
        if codes is None:
            ds.DeidentificationMethodCodeSequence = [item]
        else:
            codes.append(item)
        changed = True
    elif claimed and not claim:
        kept = [item for item in codes if item.get("CodeValue") != code]
        ds.DeidentificationMethodCodeSequence = kept
        changed = True
    clauses = _clauses(ds)
    if clauses and claim != (CLAUSE in clauses):
        clauses = [c for c in clauses if c != CLAUSE] + ([CLAUSE] if claim else [])
        ds.DeidentificationMethod = clauses if len(clauses) > 1 else clauses[0]
        changed = True
    return changed


def stale(result: FaceResult) -> bool:
    """Whether the markers the per-file step wrote (YES where the file's
    header names the head, NO elsewhere) may differ from the series result:
    only then are its outputs read again. Pixels --deface rewrote keep the
    markers they were written with."""
    if result.level == "unjudged" or result.mixed:
        return True
    return (result.level in ("none", "low")) == result.named
