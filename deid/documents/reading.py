"""What a rendered page says: its lines of text, read and judged.

The burned-in text pipeline (deid/pixels) finds, reads and labels; two
things differ for a document. Pages are large and printed small, so they
are read at their own resolution in tiles; and a report's text *is* its
content, so under `--redact phi` a line goes when it is identifying (the
file's own values, generic identifier shapes, a titled name, an identity
field) or cannot be read (a signature, a stamp), and stays when it was read
and identifies nobody. Under `--redact all-text` every line goes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deid.cv import cv2
from deid.documents.patterns import document_kind
from deid.pixels import classify, detect, ocr
from deid.pixels.judge import few_characters, under_read
from deid.risk.identifiers import IdentifierSet

# Pages are read in tiles of one fixed size: the detector's memory follows its
# input size (~200 MB at 512 px, ~600 MB at its 2048 px maximum), and a fixed
# shape lets onnxruntime reuse its buffers page after page. Same CPU per page.
TILE = 512
OVERLAP = 128  # px shared by neighbouring tiles: a line cut by one is whole in the other
IDENTIFYING = frozenset({"phi", "pattern"})


@dataclass(frozen=True)
class Region:
    box: detect.Box
    text: str
    confidence: float
    kind: str  # phi | pattern | unread | text | marker
    detail: str
    redact: bool


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
    if few_characters(box, reading.text) and kind not in IDENTIFYING:
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


def clipped(box: detect.Box, shape: tuple[int, int]) -> detect.Box | None:
    """The part of box inside the picture (text can sit outside a page)."""
    x0, y0 = max(0, box.x), max(0, box.y)
    x1, y1 = min(shape[1], box.x + box.w), min(shape[0], box.y + box.h)
    if x1 <= x0 or y1 <= y0:
        return None
    return detect.Box(x0, y0, x1 - x0, y1 - y0, box.score, box.source)
