"""One rendered page: redact what reading.py judged, check again.

A line the text layer shows to hold an identifying value is redacted
whatever OCR made of it.

After redaction the page is searched again, whole, as it will be written;
whatever the policy would still redact is redacted and the page searched
again, up to MAX_ROUNDS. Identifying text still found then means the page
(and so the document) cannot be written.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from deid.documents.pdf_source import Page
from deid.documents.reading import IDENTIFYING, Region, clipped, read_regions
from deid.pixels import classify, detect
from deid.pixels.examine import MARGIN_FRACTION, MIN_MARGIN
from deid.risk.findings import Finding, Severity
from deid.risk.identifiers import IdentifierSet

MAX_ROUNDS = 3  # checks after the first redaction
COVERED = 0.9  # a region this much inside redacted pixels is already redacted
FILL = 0  # redacted pixels are black, as a reader expects of a redaction
# Lines of a document sit close together: a margin as tall as the one around
# text on an image would cover the next line. The detector's regions already
# reach past the glyphs (DB grows them back by its unclip ratio); the re-check
# redacts any fragment left.
LINE_MARGIN = 0.08  # of the box height, above and below


def mask_for(boxes: list[detect.Box], shape: tuple[int, int]) -> np.ndarray:
    """Pixels to redact: each box grown by the image margin sideways and by
    LINE_MARGIN up and down."""
    mask = np.zeros(shape, bool)
    rows, cols = shape
    for box in boxes:
        side = max(MIN_MARGIN, round(box.h * MARGIN_FRACTION))
        tall = max(MIN_MARGIN, round(box.h * LINE_MARGIN))
        y0, y1 = max(0, box.y - tall), min(rows, box.y + box.h + tall)
        x0, x1 = max(0, box.x - side), min(cols, box.x + box.w + side)
        mask[y0:y1, x0:x1] = True
    return mask


@dataclass
class PageResult:
    picture: np.ndarray  # redacted in place
    findings: list[Finding] = field(default_factory=list)
    redacted: int = 0  # regions
    kept: int = 0  # lines read and kept
    residual: bool = False
    lines: list[tuple[str, detect.Box]] = field(default_factory=list)  # kept, as last read


def _overlaps(a: detect.Box, b: detect.Box) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


def _covered(mask: np.ndarray, box: detect.Box) -> bool:
    inside = mask[box.y : box.y + box.h, box.x : box.x + box.w]
    return inside.size == 0 or float(inside.mean()) >= COVERED


_WHAT = {
    "phi": "identifying text ({})",
    "pattern": "text that looks like a {}",
    "unread": "text-like region (unreadable)",
    "text": "text",
    "marker": "allow-listed annotation",
}


def region_finding(label: str, page: int, region: Region, residual: bool = False) -> Finding:
    box = region.box
    what = _WHAT[region.kind].format(region.detail)
    return Finding(
        "document.residual-text" if residual else "document.text",
        Severity.HIGH if residual else Severity.LOW,
        f"{what} still readable after redaction" if residual else f"document {what}",
        file=label,
        location=f"EncapsulatedDocument page {page} box {box.x},{box.y},{box.w},{box.h}",
        action="output withheld" if residual else "redacted",
        evidence=region.text,
        extra={
            "page": page,
            "box": box.as_list(),
            "label": region.kind,
            "phi_kind": region.detail,
            "ocr_confidence": region.confidence,
        },
    )


def _forced(regions: list[Region], hits: list[tuple[str, str, detect.Box]]) -> list[Region]:
    """Lines that hold a text-layer match are redacted whatever OCR read:
    the text layer is exact where OCR guesses."""
    out = []
    for region in regions:
        hit = next((h for h in hits if _overlaps(region.box, h[2])), None)
        if hit and not region.redact:
            region = replace(region, kind=hit[0], detail=hit[1], redact=True)
        out.append(region)
    return out


def _layer_finding(label: str, page: Page) -> list[Finding]:
    """One finding per page for what the text layer showed (the lines it
    put under redaction have their own findings)."""
    if not page.hits:
        return []
    kinds = sorted(
        {f"{hit.kind} ({'own value' if hit.label == 'phi' else 'shape'})" for hit in page.hits}
    )
    return [
        Finding(
            "document.text-layer",
            Severity.LOW,
            f"{len(page.hits)} identifying match(es) in the PDF text layer: {', '.join(kinds)}",
            file=label,
            location=f"EncapsulatedDocument page {page.number} text layer",
            action="redacted where drawn; the text layer is not written",
            evidence=" | ".join(dict.fromkeys(hit.text for hit in page.hits)),
        )
    ]


def _apply(
    result: PageResult, mask: np.ndarray, regions: list[Region], label: str, page: int
) -> None:
    result.findings += [region_finding(label, page, r) for r in regions]
    result.redacted += len(regions)
    mask |= mask_for([r.box for r in regions], mask.shape)
    result.picture[mask] = FILL


def redact_page(
    page: Page,
    identifiers: IdentifierSet,
    allow: classify.AllowList,
    all_text: bool,
    label: str,
) -> PageResult:
    """Redact the page's picture in place and check it; residual is True when
    identifying text is still found after MAX_ROUNDS checks."""
    shape = page.picture.shape[:2]
    result = PageResult(page.picture, _layer_finding(label, page))
    hits = [
        (hit.label, hit.kind, box)
        for hit in page.hits
        for raw in hit.boxes
        if (box := clipped(raw, shape)) is not None
    ]
    mask = mask_for([box for _, _, box in hits], shape)
    regions = _forced(read_regions(page.picture, identifiers, allow, all_text), hits)
    result.kept = sum(not r.redact for r in regions)
    chosen = [r for r in regions if r.redact]
    _apply(result, mask, chosen, label, page.number)
    for checks in range(1, MAX_ROUNDS + 1):
        if not (chosen or hits):
            break  # nothing to redact: the first reading was the check
        regions = read_regions(page.picture, identifiers, allow, all_text)
        new = [r for r in regions if r.redact and not _covered(mask, r.box)]
        if not new:
            break
        if checks == MAX_ROUNDS and any(r.kind in IDENTIFYING for r in new):
            result.findings += [region_finding(label, page.number, r, True) for r in new]
            result.residual = True
            break
        _apply(result, mask, new, label, page.number)  # the last round: unreadable ones only
    result.lines = [
        (r.text, r.box)
        for r in regions
        if not r.redact and r.text.strip() and not _covered(mask, r.box)
    ]
    return result
