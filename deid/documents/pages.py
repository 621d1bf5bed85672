"""One rendered page: find text, read it, decide, redact, check again.

The burned-in text pipeline (deid/pixels) does the finding, reading and
labelling. What differs for a document is the policy: a report's text *is*
its content, so under `--redact phi` a line is redacted when it is
identifying (the file's own values, generic identifier shapes, a titled
name, an identity field) or cannot be read (a signature, a stamp), and
kept when it was read and nothing in it identifies anyone. Under
`--redact all-text` every line goes. A line the text layer shows to hold
an identifying value is redacted whatever OCR made of it.

After redaction the page is searched again, whole, as it will be written;
whatever the policy would still redact is redacted and the page searched
again, up to MAX_ROUNDS. Identifying text still found then means the page
(and so the document) cannot be written.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from deid.documents.patterns import document_kind
from deid.documents.pdf_source import Page
from deid.pixels import classify, detect, ocr
from deid.pixels.examine import MARGIN_FRACTION, MIN_MARGIN, not_a_line, under_read
from deid.risk.findings import Finding, Severity
from deid.risk.identifiers import IdentifierSet

MAX_ROUNDS = 3  # checks after the first redaction
# Pages are read in tiles of one fixed size: the detector's memory follows its
# input size (~200 MB at 512 px, ~600 MB at its 2048 px maximum), and a fixed
# shape lets onnxruntime reuse its buffers page after page. Same CPU per page.
TILE = 512
OVERLAP = 128  # px shared by neighbouring tiles: a line cut by one is whole in the other
COVERED = 0.9  # a region this much inside redacted pixels is already redacted
FILL = 0  # redacted pixels are black, as a reader expects of a redaction
IDENTIFYING = frozenset({"phi", "pattern"})
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


@dataclass(frozen=True)
class Region:
    box: detect.Box
    text: str
    confidence: float
    kind: str  # phi | pattern | unread | text | marker
    detail: str
    redact: bool


@dataclass
class PageResult:
    picture: np.ndarray  # redacted in place
    findings: list[Finding] = field(default_factory=list)
    redacted: int = 0  # regions
    kept: int = 0  # lines read and kept
    residual: bool = False


def _starts(length: int) -> list[int]:
    if length <= TILE:
        return [0]
    step = TILE - OVERLAP
    return [*range(0, length - TILE, step), length - TILE]


def find_text(picture: np.ndarray) -> list[detect.Box]:
    """Text boxes at the picture's own resolution (never shrunk: small print
    stays as large as a reader sees it), read tile by tile; tiles at a short
    edge are padded with white, the page's usual background."""
    rows, cols = picture.shape[:2]
    boxes = []
    for y0 in _starts(rows):
        for x0 in _starts(cols):
            tile = picture[y0 : y0 + TILE, x0 : x0 + TILE]
            short = (TILE - tile.shape[0], TILE - tile.shape[1])
            if any(short):
                tile = cv2.copyMakeBorder(
                    tile, 0, short[0], 0, short[1], cv2.BORDER_CONSTANT, value=(255, 255, 255)
                )
            for b in detect.find_text(np.ascontiguousarray(tile), scale=1.0):
                box = clipped(detect.Box(b.x + x0, b.y + y0, b.w, b.h, b.score), (rows, cols))
                if box is not None:
                    boxes.append(box)
    return _whole(detect.merge_lines(boxes))


def _inside(a: detect.Box, b: detect.Box) -> float:
    """How much of a lies inside b."""
    w = min(a.x + a.w, b.x + b.w) - max(a.x, b.x)
    h = min(a.y + a.h, b.y + b.h) - max(a.y, b.y)
    return max(0, w) * max(0, h) / max(1, a.w * a.h)


def _whole(boxes: list[detect.Box]) -> list[detect.Box]:
    """Without the pieces of lines a tile edge cut through: the tile that
    overlaps it holds the whole line, whose box contains the piece."""
    return [
        a
        for i, a in enumerate(boxes)
        if not any(
            j != i and b.w * b.h > a.w * a.h and _inside(a, b) > 0.8 for j, b in enumerate(boxes)
        )
    ]


def judge(
    box: detect.Box,
    reading: ocr.Reading,
    identifiers: IdentifierSet,
    allow: classify.AllowList,
    all_text: bool,
) -> Region | None:
    """What a region holds and whether it goes; None for what is not text."""
    found = classify.label(reading.text, identifiers, allow)
    kind, detail = found.kind, found.detail
    if kind in ("text", "marker") and (shape := document_kind(reading.text)):
        kind, detail = "pattern", shape
    if kind == "marker" and under_read(box, reading.text):
        kind = "unread"
    if not_a_line(box, reading.text) and kind not in IDENTIFYING:
        return None
    redact = all_text or kind in IDENTIFYING or kind == "unread"
    return Region(box, reading.text, reading.confidence, kind, detail, redact)


def read_regions(
    picture: np.ndarray, identifiers: IdentifierSet, allow: classify.AllowList, all_text: bool
) -> list[Region]:
    boxes = find_text(picture)
    readings = ocr.read(picture, boxes)
    out = []
    for box, reading in zip(boxes, readings, strict=True):
        region = judge(box, reading, identifiers, allow, all_text)
        if region is not None:
            out.append(region)
    return out


def _overlaps(a: detect.Box, b: detect.Box) -> bool:
    return a.x < b.x + b.w and b.x < a.x + a.w and a.y < b.y + b.h and b.y < a.y + a.h


def _covered(mask: np.ndarray, box: detect.Box) -> bool:
    inside = mask[box.y : box.y + box.h, box.x : box.x + box.w]
    return inside.size == 0 or float(inside.mean()) >= COVERED


def clipped(box: detect.Box, shape: tuple[int, int]) -> detect.Box | None:
    """The part of box inside the picture (text can sit outside a page)."""
    x0, y0 = max(0, box.x), max(0, box.y)
    x1, y1 = min(shape[1], box.x + box.w), min(shape[0], box.y + box.h)
    if x1 <= x0 or y1 <= y0:
        return None
    return detect.Box(x0, y0, x1 - x0, y1 - y0, box.score, box.source)


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
    return result
