"""Burned-in text in one file: decide, detect, read, label, redact, re-check.

Redaction never waits for OCR to succeed: a detected region is kept only when
its words are read and all of them are allow-listed markers. OCR labels the
findings (whose name, which date) and, after redaction, reads the redacted
frames again to prove no identifying value is still legible.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.uid import UID

from deid.errors import InputFileError
from deid.pixels import classify, judge, regions
from deid.pixels.policy import CANNOT_EXAMINE, TRUSTED, Decision, Verdict, decide, kind
from deid.pixels.settings import PixelSettings
from deid.risk.findings import Finding, Severity
from deid.risk.identifiers import IdentifierSet

if TYPE_CHECKING:  # OpenCV and onnxruntime load only when a file is examined
    from deid.pixels import detect, frame_copies, frames, ocr

RECHECK_REACH = 24  # px around redacted areas that the re-check reads again
MARGIN_FRACTION = 0.2  # of the box height, added around every redacted box
MIN_MARGIN = 2


@dataclass
class PixelOutcome:
    examined: bool = False
    decision: str = ""
    verdict: Verdict = Verdict.SKIP
    slice_of_series: bool = False  # an ORIGINAL CT/MR/PT/NM slice (its series may be sampled)
    findings: list[Finding] = field(default_factory=list)
    regions_redacted: int = 0
    frames_redacted: int = 0
    complete: bool = False  # examined, every non-marker region redacted, re-check clean
    residual: bool = False
    text_left: bool = False  # text other than allow-listed markers found and not redacted
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
        action=f"pixel data unchanged; {_way_on(decision.reason)}review before sharing",
    )


def _way_on(reason: str) -> str:
    """What would have examined it: nothing, for pixel data deid cannot read
    (float, other depths), where naming --pixels all misled."""
    if reason.startswith(TRUSTED):
        return "run without --trust-burned-in-annotation or "
    if reason.endswith(CANNOT_EXAMINE):
        return ""
    if TRUSTED in reason:  # --pixels off, and auto would trust its NO
        return "examine (--pixels all, or auto without --trust-burned-in-annotation) or "
    return "examine (--pixels auto or all) or "


def _mask_for(boxes: list[detect.Box], shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, bool)
    for box in boxes:
        margin = max(MIN_MARGIN, int(round(box.h * MARGIN_FRACTION)))
        grown = box.grown(margin, shape[1], shape[0])
        mask[grown.y : grown.y + grown.h, grown.x : grown.x + grown.w] = True
    return mask


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


WHAT = {
    "phi": "identifying text ({})",
    "pattern": "text that looks like a {}",
    "marker": "allow-listed annotation",
    "text": "text",
    "unread": "text-like region (unreadable)",
}


@dataclass
class _Examination:
    """One file's examination in progress."""

    ds: Dataset
    pixels: frames.Pixels
    label: str
    settings: PixelSettings
    context: judge.Context
    redacting: bool
    fast: bool  # the 8-bit detector (series slices)
    outcome: PixelOutcome
    fixed: np.ndarray | None = None  # known device text regions
    found_text: bool = False
    found: dict[int, np.ndarray] = field(default_factory=dict)  # detected text redacted per frame


def _decode(ds: Dataset) -> frames.Pixels:
    from deid.pixels import frames

    unusable = _not_whole_numbers(ds)
    if unusable:  # the decoder's own words named none of them
        raise InputFileError(
            f"cannot decode pixel data to check for burned-in text: {', '.join(unusable)} "
            f"not a whole number{_remedy(ds)}"
        )
    mismatch = _samples_mismatch(ds)
    if mismatch:  # OpenCV's own words named its channel checks, not the attributes
        raise InputFileError(
            f"cannot decode pixel data to check for burned-in text: {mismatch}{_remedy(ds)}"
        )
    try:
        return frames.decode(ds)
    except Exception as exc:  # noqa: BLE001 - any decoder failure means "unchecked"
        # pydicom names each plugin's reason on a line of its own, after a
        # first line that says only that all failed: the reasons are kept.
        causes = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        causes = causes.replace(":; ", ": ")
        raise InputFileError(
            f"cannot decode pixel data ({_encoding(ds)}) to check for burned-in text "
            f"({type(exc).__name__}: {causes[:400]}){_remedy(ds)}"
        ) from None


def _samples_mismatch(ds: Dataset) -> str:
    """PhotometricInterpretation and SamplesPerPixel that disagree (PS3.3
    C.7.6.3.1.2), said by the standard's terms only (never the file's own
    text); "" if they agree."""
    from deid.pixels.frames import COLOUR_INTERPRETATIONS

    photometric = str(ds.get("PhotometricInterpretation", "") or "").strip()
    one = ("MONOCHROME1", "MONOCHROME2", "PALETTE COLOR")
    needs = 1 if photometric in one else 3 if photometric in COLOUR_INTERPRETATIONS else None
    samples = ds.get("SamplesPerPixel", 1)
    if needs is None or not isinstance(samples, int) or samples == needs:
        return ""
    return f"PhotometricInterpretation {photometric} with SamplesPerPixel {samples} (needs {needs})"


# The Image Pixel attributes the decoder computes with.
_WHOLE_NUMBERS = (
    "Rows", "Columns", "SamplesPerPixel", "BitsAllocated", "BitsStored", "HighBit",
    "PixelRepresentation", "PlanarConfiguration", "NumberOfFrames",
)  # fmt: skip


def _not_whole_numbers(ds: Dataset) -> list[str]:
    """Image Pixel attributes present with something else than one whole
    number (Rows written as LO text, NumberOfFrames `1\\2`), by name and VR."""
    return [
        f"{keyword} ({ds[keyword].VR})"
        for keyword in _WHOLE_NUMBERS
        if keyword in ds and not _whole(ds[keyword].value, keyword == "NumberOfFrames")
    ]


def _whole(value: object, text_allowed: bool) -> bool:
    """One integer (IS values are ints); NumberOfFrames may be its text. An
    empty value is as if absent (the decoder reads it so)."""
    if value is None or value == "" or (isinstance(value, int) and not isinstance(value, bool)):
        return True
    if not text_allowed or not isinstance(value, str | bytes):
        return False
    try:
        int(value.strip())
    except ValueError:
        return False
    return True


# 12-bit JPEG (Extended, Process 2 and 4: older CT and MR archives) only
# pylibjpeg-libjpeg decodes among pydicom's plugins. It is GPL-3.0, deid
# MIT: an extra a user chooses (`deid-dicom[jpeg12]`), never a dependency.
_TWELVE_BIT_JPEG = "1.2.840.10008.1.2.4.51"


def _remedy(ds: Dataset) -> str:
    """What the user can do about it, said where the failure is read."""
    ts = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "")
    bits = ds.get("BitsStored")
    hint = "; --pixels off writes it unexamined, reported as not examined"
    if ts == _TWELVE_BIT_JPEG and isinstance(bits, int) and bits > 8 and not _libjpeg():
        hint = "; installing pylibjpeg-libjpeg (GPL-3.0) decodes it" + hint
    return hint


def _libjpeg() -> bool:
    from importlib.util import find_spec

    return find_spec("libjpeg") is not None


def _encoding(ds: Dataset) -> str:
    """The transfer syntax by its standard name (a UID the standard does not
    list could be anything, and is not quoted) and the bits stored."""
    uid = UID(str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or ""))
    name = uid.name if uid.is_transfer_syntax else "a transfer syntax deid does not know"
    bits = ds.get("BitsStored")
    return f"{name}, {bits} bits stored" if isinstance(bits, int) else name


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
    outcome.slice_of_series = decision.slice_of_series
    declared = str(ds.get("BurnedInAnnotation", "") or "").strip().upper()
    if not decision.look:
        if decision.unexamined is not None:
            outcome.findings.append(not_examined(label, decision, declared))
        return outcome
    pixels = _decode(ds)
    outcome.examined = True
    run = _start(ds, pixels, identifiers, settings, label, modify, outcome)
    for index in range(pixels.count):
        _examine_frame(run, index)
    _spread(run)
    _declared(run, declared)
    if not outcome.masks:
        outcome.complete = run.redacting and (run.found_text or declared != "YES")
        return outcome
    from deid.pixels import redact

    redact.apply(pixels, outcome.masks, redact.fill_value(ds, pixels))
    outcome.frames_redacted = len(outcome.masks)
    outcome.pixels = pixels
    allow = run.context.allow
    outcome.residual = _recheck(ds, pixels, outcome.masks, identifiers, allow, label, outcome)
    outcome.complete = not outcome.residual
    return outcome


def _start(
    ds: Dataset,
    pixels: frames.Pixels,
    identifiers: IdentifierSet,
    settings: PixelSettings,
    label: str,
    modify: bool,
    outcome: PixelOutcome,
) -> _Examination:
    """What every frame's examination shares: lists, rules, data regions."""
    context = judge.Context(
        identifiers,
        classify.load_allowlist(*settings.allowlists),
        tuple(regions.data_regions(ds)),
        str(ds.get("Modality", "") or "").strip().upper() in ("US", "IVUS"),
    )
    redacting = modify and settings.redact != "none"
    run = _Examination(
        ds, pixels, label, settings, context, redacting, _series_of_slices(ds, pixels), outcome
    )
    rules = regions.load_rules(*settings.region_rules)
    run.fixed, used = regions.rule_mask(ds, rules, pixels.frames.shape[1:3])
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
    return run


def _candidates(run: _Examination, index: int) -> list[tuple[detect.Box, ocr.Reading, np.ndarray]]:
    """Detected regions of one frame with their readings and the picture they
    were read on: the whole frame, and (grayscale, not a series slice) its
    brightest areas stretched on their own, where light text over dense bone
    disappears in the whole-frame picture."""
    from deid.pixels import detect, frames, ocr

    rgb = frames.picture(run.ds, run.pixels, index)
    boxes = detect.find_text(rgb, fast=run.fast)
    found = [(b, r, rgb) for b, r in zip(boxes, ocr.read(rgb, boxes), strict=True)]
    if run.fast:
        return _confirmed(found, rgb)
    if not run.pixels.interpretation.startswith("MONOCHROME"):
        return found
    for x, y, view in frames.bright_views(run.pixels, index, rgb):
        inner = detect.find_text(view)
        for box, reading in zip(inner, ocr.read(view, inner), strict=True):
            moved = detect.Box(box.x + x, box.y + y, box.w, box.h, box.score, "bright-area")
            if not any(_covers(b, moved) for b, _, _ in found):
                canvas = np.zeros_like(rgb)
                canvas[y : y + view.shape[0], x : x + view.shape[1]] = view
                found.append((moved, reading, canvas))
    return found


def _confirmed(
    found: list[tuple[detect.Box, ocr.Reading, np.ndarray]], rgb: np.ndarray
) -> list[tuple[detect.Box, ocr.Reading, np.ndarray]]:
    """The 8-bit network (series slices) also fires on image noise that the
    float network does not (a small, noisy slice upscaled): a region OCR
    reads only as garble is kept when the float network finds text there
    too. Regions read well are kept as they are; the float network runs only
    for frames with such a doubtful region."""
    from deid.pixels import detect

    doubtful = [i for i, (_, r, _) in enumerate(found) if r.confidence < judge.GARBLED]
    if not doubtful:
        return found
    full = detect.find_text(rgb)
    return [
        item for i, item in enumerate(found)
        if i not in doubtful or any(_overlap(item[0], b) for b in full)
    ]


def _overlap(a: detect.Box, b: detect.Box) -> bool:
    return _rects_meet(a.as_list(), b.as_list())


def _rects_meet(a: list[int] | tuple[int, ...], b: list[int] | tuple[int, ...]) -> bool:
    """Two (x, y, w, h) rectangles share a pixel."""
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _covers(a: detect.Box, b: detect.Box) -> bool:
    """a holds all of b already (a box found in a bright area that overlaps
    one of the whole frame adds what the whole frame cut off)."""
    return a.x <= b.x and a.y <= b.y and a.x + a.w >= b.x + b.w and a.y + a.h >= b.y + b.h


def _examine_frame(run: _Examination, index: int) -> None:
    chosen = []
    for box, reading, rgb in _candidates(run, index):
        for region in judge.judge(rgb, box, reading, run.context):
            if not region.is_text:
                if region.noted:
                    run.outcome.findings.append(_not_text(run, index, region))
                continue
            run.found_text = True
            kind = region.label.kind
            redact_it = run.redacting and (run.settings.redact == "all-text" or kind != "marker")
            if redact_it:
                chosen.append(region.box)
            elif kind != "marker":
                run.outcome.text_left = True
            run.outcome.findings.append(_text_finding(run, index, region, redact_it))
    if chosen:
        run.found[index] = _mask_for(chosen, run.pixels.frames.shape[1:3])
    _set_mask(run, index)
    run.outcome.regions_redacted += len(chosen)


def _set_mask(run: _Examination, index: int) -> None:
    """The frame's redaction: its detected text and the device's regions."""
    mask = run.found.get(index)
    if run.fixed is not None and run.redacting:
        mask = run.fixed if mask is None else (mask | run.fixed)
    if mask is not None and mask.any():
        run.outcome.masks[index] = mask


# Frames that are moments of one view, not places in a volume: a cine loop
# draws its captions on each. Slices of an enhanced CT or MR are other
# anatomy, which may resemble a box's pixels on a neighbour (a review
# copied one slice's false box onto five others).
_FRAME_TIMES = (0x00181063, 0x00181065)  # FrameTime, FrameTimeVector
_CINE_MODALITIES = frozenset({"US", "IVUS", "XA", "RF", "ES", "XC"})


def _cine(ds: Dataset) -> bool:
    pointer = ds.get("FrameIncrementPointer")
    pointers = pointer if isinstance(pointer, list | tuple | MultiValue) else [pointer]
    if any(p in _FRAME_TIMES for p in pointers if p is not None):
        return True
    return str(ds.get("Modality", "") or "").strip().upper() in _CINE_MODALITIES


def _spread(run: _Examination) -> None:
    """Text redacted in one frame of a cine loop is redacted in the frames
    showing the same pixels there (deid.pixels.frame_copies); their
    findings say so."""
    from deid.pixels import frame_copies

    if not _cine(run.ds):
        return
    copies = frame_copies.spread(run.pixels.frames, run.found)
    by_frame: dict[int, list[int]] = {}
    for i, finding in enumerate(run.outcome.findings):
        if finding.extra.get("box"):
            by_frame.setdefault(finding.extra.get("frame", -1), []).append(i)
    for copy in copies:
        _set_mask(run, copy.frame)
        _note_copy(run, copy, by_frame.setdefault(copy.frame, []))
    run.outcome.regions_redacted += len(copies)


def _note_copy(run: _Examination, copy: frame_copies.Copy, in_frame: list[int]) -> None:
    """The redacted area, as a finding of the frame it was copied to; a
    finding of that frame that kept these pixels (an allow-listed reading, a
    region cleared as texture) now says they were redacted. Both say
    "redacted", as every redaction does (the report counts them so).
    `in_frame`: where the frame's findings are in the list."""
    findings, why = run.outcome.findings, f"the same pixels as in frame {copy.source}"
    for i in in_frame:
        finding = findings[i]
        if finding.action != "redacted" and _rects_meet(finding.extra["box"], copy.box):
            findings[i] = replace(finding, message=f"{finding.message}; {why}", action="redacted")
    x, y, w, h = copy.box
    in_frame.append(len(findings))
    findings.append(
        _finding(
            run.label,
            "pixels.burned-in-text",
            Severity.LOW,
            f"burned-in text: {why}",
            location=f"PixelData frame {copy.frame} box {x},{y},{w},{h}",
            action="redacted",
            extra={"frame": copy.frame, "box": list(copy.box), "label": "text",
                   "found_in": f"frame {copy.source}"},
        )
    )


def _text_finding(run: _Examination, index: int, region: judge.Region, redacted: bool) -> Finding:
    kind, box = region.label, region.box
    action = "reported only"
    if redacted:
        action = "redacted"
    elif kind.kind == "marker" and run.redacting:
        action = "kept (allow-listed)"
    return _finding(
        run.label,
        "pixels.burned-in-text",
        _severity(kind.kind, redacted),
        f"burned-in {WHAT[kind.kind].format(kind.detail)}",
        location=f"PixelData frame {index} box {box.x},{box.y},{box.w},{box.h}",
        action=action,
        evidence=region.text,
        extra={
            "frame": index,
            "box": box.as_list(),
            "label": kind.kind,
            "phi_kind": kind.detail,
            "detector_score": box.score,
            "ocr_confidence": region.confidence,
            "found_in": box.source,
        },
    )


def _not_text(run: _Examination, index: int, region: judge.Region) -> Finding:
    """A region the detector flagged and the evidence cleared (colour flow,
    speckle): kept, and said, so a reviewer can look."""
    box = region.box
    return _finding(
        run.label,
        "pixels.not-text",
        Severity.INFO,
        f"detected region judged not text: {region.not_text}",
        location=f"PixelData frame {index} box {box.x},{box.y},{box.w},{box.h}",
        action="kept",
        extra={"frame": index, "box": box.as_list(), "evidence": region.evidence or {}},
    )


def _declared(run: _Examination, declared: str) -> None:
    """What the file's own BurnedInAnnotation claimed, against what was found."""
    outcome = run.outcome
    suspicious = [f for f in outcome.findings if f.extra.get("label") in ("phi", "pattern")]
    if suspicious and declared == "NO":
        # High where the text stays (a scan); redacted, the output is clean and
        # what is left to act on is the source's false claim.
        outcome.findings.append(
            _finding(
                run.label,
                "pixels.declared-no-but-text",
                Severity.MEDIUM if run.redacting else Severity.HIGH,
                f"BurnedInAnnotation is NO but {len(suspicious)} region(s) of identifying-looking "
                "text were found",
                action="redacted" if run.redacting else "reported only",
            )
        )
    if not run.found_text and declared == "YES":
        outcome.findings.append(
            _finding(
                run.label,
                "pixels.declared-not-found",
                Severity.MEDIUM,
                "BurnedInAnnotation is YES but no text was detected: review by eye",
                action="BurnedInAnnotation left YES" if run.redacting else "review by eye",
            )
        )


def _around(rgb: np.ndarray, mask: np.ndarray) -> list[tuple[detect.Box, ocr.Reading]]:
    """Text found near redacted areas: where a partly covered word would be.
    Text elsewhere was judged in the first pass; looking only here halves the
    cost of the re-check on large images."""
    from deid.cv import cv2
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
