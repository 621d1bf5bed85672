"""Burned-in text in one file: decide, detect, read, label, redact, re-check.

Redaction never waits for OCR to succeed: a detected region is kept only when
its words are read and all of them are allow-listed markers. OCR labels the
findings (whose name, which date) and, after redaction, reads the redacted
frames again to prove no identifying value is still legible.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from pydicom.dataset import Dataset

from deid.errors import InputFileError
from deid.pixels import classify, regions
from deid.pixels.policy import Decision, Verdict, decide, kind
from deid.pixels.settings import PixelSettings
from deid.risk.findings import Finding, Severity
from deid.risk.identifiers import IdentifierSet

if TYPE_CHECKING:  # OpenCV and onnxruntime load only when a file is examined
    from deid.pixels import detect, frames, ocr

RECHECK_REACH = 24  # px around redacted areas that the re-check reads again
MARGIN_FRACTION = 0.2  # of the box height, added around every redacted box
MIN_MARGIN = 2


@dataclass
class PixelOutcome:
    examined: bool = False
    decision: str = ""
    verdict: Verdict = Verdict.SKIP
    findings: list[Finding] = field(default_factory=list)
    regions_redacted: int = 0
    frames_redacted: int = 0
    complete: bool = False  # examined, every non-marker region redacted, re-check clean
    residual: bool = False
    pixels: frames.Pixels | None = None  # edited frames, when anything changed
    masks: dict[int, np.ndarray] = field(default_factory=dict)  # redacted pixels per frame


def _finding(
    label: str,
    rule: str,
    severity: Severity,
    message: str,
    location: str = "PixelData",
    **kw: Any,
) -> Finding:
    return Finding(rule, severity, message, file=label, location=location, **kw)


def not_examined(label: str, decision: Decision, declared: str) -> Finding:
    """A file that can carry text and was not looked at: never silence."""
    if declared == "YES":
        return _finding(
            label,
            "pixels.burned-in-declared",
            decision.unexamined,
            f"BurnedInAnnotation is YES and pixel data was not examined ({decision.reason})",
            action="pixel data unchanged; review before sharing",
        )
    return _finding(
        label,
        "pixels.not-examined",
        decision.unexamined,
        f"pixel data not examined for burned-in text: {decision.reason}",
        action="pixel data unchanged; examine (--pixels auto or all) or review before sharing",
    )


def _mask_for(boxes: list[detect.Box], shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, bool)
    for box in boxes:
        margin = max(MIN_MARGIN, int(round(box.h * MARGIN_FRACTION)))
        grown = box.grown(margin, shape[1], shape[0])
        mask[grown.y : grown.y + grown.h, grown.x : grown.x + grown.w] = True
    return mask


def _not_a_line(box: detect.Box, text: str) -> bool:
    """Lines of text are wide. A squarish region with fewer than three legible
    characters is anatomy the detector mistook, or a one- or two-letter
    marker: neither can hold a name, an ID or a date."""
    legible = sum(c.isalnum() for c in text)
    return box.w < 2 * box.h and legible < 3


def _under_read(box: detect.Box, text: str) -> bool:
    """OCR that returns far fewer characters than a line this long holds has
    misread it (a wide box read as ':'); an allow-listed reading then proves
    nothing, so the region is treated as unread and redacted. Characters are
    about half as wide as the box is high, margins included."""
    expected = box.w / (0.5 * box.h)
    return sum(c.isalnum() for c in text) < 0.3 * expected


def _series_of_slices(ds: Dataset, pixels: frames.Pixels) -> bool:
    """ORIGINAL grayscale slices of CT/MR/PT/NM series come by the hundred and
    rarely carry text: the 8-bit detector keeps checking all of them
    affordable. Captures, derived images, the modalities that carry text and
    colour images keep the float network, which measured more accurate on
    colour text; so does the re-check after redaction."""
    return kind(ds)[0] is Verdict.SERIES and pixels.interpretation.startswith("MONOCHROME")


def _severity(kind: str, redacted: bool) -> Severity:
    if kind == "marker":
        return Severity.INFO
    if redacted:
        return Severity.LOW
    return Severity.HIGH if kind in ("phi", "pattern") else Severity.MEDIUM


def examine(
    ds: Dataset,
    identifiers: IdentifierSet,
    settings: PixelSettings,
    label: str,
    modify: bool = True,
) -> PixelOutcome:
    """Look for burned-in text; with modify, redact it in a copy of the frames."""
    outcome = PixelOutcome()
    decision = decide(ds, settings)
    outcome.decision, outcome.verdict = decision.text, decision.verdict
    declared = str(ds.get("BurnedInAnnotation", "") or "").strip().upper()
    if not decision.look:
        if decision.unexamined is not None:
            outcome.findings.append(not_examined(label, decision, declared))
        return outcome
    from deid.pixels import detect, frames, ocr, redact

    try:
        pixels = frames.decode(ds)
    except Exception as exc:  # noqa: BLE001 - any decoder failure means "unchecked"
        raise InputFileError(
            f"cannot decode pixel data to check for burned-in text "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
        ) from None
    outcome.examined = True
    allow = classify.load_allowlist(*settings.allowlists)
    rules = regions.load_rules(*settings.region_rules)
    redacting = modify and settings.redact != "none"
    shape = pixels.frames.shape[1:3]
    fixed, used = regions.rule_mask(ds, rules, shape)
    if used:
        outcome.findings.append(
            _finding(
                label,
                "pixels.known-region",
                Severity.LOW if redacting else Severity.HIGH,
                f"known text region for this device ({', '.join(used)})",
                action="redacted" if redacting else "reported only",
            )
        )
    masks: dict[int, np.ndarray] = {}
    found_text = False
    fast = _series_of_slices(ds, pixels)
    for index in range(pixels.count):
        rgb = frames.picture(ds, pixels, index)
        boxes = detect.find_text(rgb, fast=fast)
        readings = ocr.read(rgb, boxes)
        chosen = []
        for box, reading in zip(boxes, readings, strict=True):
            kind = classify.label(reading.text, identifiers, allow)
            if kind.kind == "marker" and _under_read(box, reading.text):
                kind = classify.Label("unread")
            if _not_a_line(box, reading.text) and kind.kind not in ("phi", "pattern"):
                continue  # bone texture, vessels: squarish and nothing legible in it
            found_text = True
            redact_it = redacting and (settings.redact == "all-text" or kind.kind != "marker")
            if redact_it:
                chosen.append(box)
            what = {
                "phi": f"identifying text ({kind.detail})",
                "pattern": f"text that looks like a {kind.detail}",
                "marker": "allow-listed annotation",
                "text": "text",
                "unread": "text-like region (unreadable)",
            }[kind.kind]
            outcome.findings.append(
                _finding(
                    label,
                    "pixels.burned-in-text",
                    _severity(kind.kind, redact_it),
                    f"burned-in {what}",
                    location=f"PixelData frame {index} box {box.x},{box.y},{box.w},{box.h}",
                    action="redacted"
                    if redact_it
                    else (
                        "kept (allow-listed)"
                        if kind.kind == "marker" and redacting
                        else "reported only"
                    ),
                    evidence=reading.text,
                    extra={
                        "frame": index,
                        "box": box.as_list(),
                        "label": kind.kind,
                        "phi_kind": kind.detail,
                        "detector_score": box.score,
                        "ocr_confidence": reading.confidence,
                    },
                )
            )
        mask = _mask_for(chosen, shape) if chosen else None
        if fixed is not None and redacting:
            mask = fixed if mask is None else (mask | fixed)
        if mask is not None and mask.any():
            masks[index] = mask
            outcome.regions_redacted += len(chosen)
    suspicious = [f for f in outcome.findings if f.extra.get("label") in ("phi", "pattern")]
    if suspicious and declared == "NO":
        outcome.findings.append(
            _finding(
                label,
                "pixels.declared-no-but-text",
                Severity.HIGH,
                f"BurnedInAnnotation is NO but {len(suspicious)} region(s) of identifying-looking "
                "text were found",
                action="redacted" if redacting else "reported only",
            )
        )
    if not found_text and declared == "YES":
        outcome.findings.append(
            _finding(
                label,
                "pixels.declared-not-found",
                Severity.MEDIUM,
                "BurnedInAnnotation is YES but no text was detected: review by eye",
                action="BurnedInAnnotation left YES",
            )
        )
    if not masks:
        outcome.complete = redacting and (found_text or declared != "YES")
        return outcome
    outcome.masks = masks
    redact.apply(pixels, masks, redact.fill_value(ds, pixels))
    outcome.frames_redacted = len(masks)
    outcome.pixels = pixels
    outcome.residual = _recheck(ds, pixels, masks, identifiers, allow, label, outcome)
    outcome.complete = not outcome.residual
    return outcome


def _around(rgb: np.ndarray, mask: np.ndarray) -> list[tuple[detect.Box, ocr.Reading]]:
    """Text found near redacted areas: where a partly covered word would be.
    Text elsewhere was judged in the first pass; looking only here halves the
    cost of the re-check on large images."""
    import cv2

    from deid.pixels import detect, ocr

    reach = RECHECK_REACH
    grown = cv2.dilate(mask.astype(np.uint8), np.ones((2 * reach + 1, 2 * reach + 1), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
    found = []
    for i in range(1, count):
        x, y, w, h, _ = (int(v) for v in stats[i])
        crop = np.ascontiguousarray(rgb[y : y + h, x : x + w])
        scale = 2.0 if min(h, w) < 96 else 1.0  # small crops: small text needs pixels
        boxes = detect.find_text(crop, scale=scale)
        readings = ocr.read(crop, boxes)
        for box, reading in zip(boxes, readings, strict=True):
            found.append((detect.Box(box.x + x, box.y + y, box.w, box.h, box.score), reading))
    return found


def _recheck(
    ds: Dataset,
    pixels: frames.Pixels,
    masks: dict[int, np.ndarray],
    identifiers: IdentifierSet,
    allow: classify.AllowList,
    label: str,
    outcome: PixelOutcome,
) -> bool:
    """Detect and read the redacted frames again: identifying text still legible?"""
    from deid.pixels import frames

    residual = False
    for index, mask in masks.items():
        rgb = frames.picture(ds, pixels, index)
        for box, reading in _around(rgb, mask):
            kind = classify.label(reading.text, identifiers, allow)
            if kind.kind == "phi":
                residual = True
                outcome.findings.append(
                    _finding(
                        label,
                        "pixels.residual-text",
                        Severity.HIGH,
                        f"identifying text ({kind.detail}) still readable after redaction",
                        location=f"PixelData frame {index} box {box.x},{box.y},{box.w},{box.h}",
                        action="output withheld",
                        evidence=reading.text,
                        extra={"frame": index, "box": box.as_list()},
                    )
                )
    return residual
