"""Is a detected region text, and what kind? One region at a time.

The reading decides first: identifying text and patterns are text whatever
they look like. Where reading cannot decide, the region's shape, script and
colour/texture evidence do:

- a squarish region with one or two legible characters is text when it
  reads as letters in any script (two-letter surnames, two-character CJK
  names: Tesseract's Chinese, Japanese and Korean data read what English
  cannot) and looks like text; bone texture and vessels do not;
- a region OCR cannot read inside an ultrasound data region, or colour
  mapped like flow, is text unless the evidence clears it; text drawn over
  colour flow is found again in the region's colours one by one;
- elsewhere, a blob-shaped region OCR cannot read is cleared only when the
  evidence clearly says anatomy (long lines and faint regions stay text).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from deid.pixels import classify, evidence
from deid.risk.identifiers import IdentifierSet

if TYPE_CHECKING:
    from deid.pixels.detect import Box
    from deid.pixels.ocr import Reading

GARBLED = 30.0  # mean word confidence below which a reading is noise
BLOB = 2.5  # a region less than this many times as wide as high is no line of text
DOUBTFUL = 70.0  # inside ultrasound data regions, readings below this need evidence too
TALL = 40  # px: taller than wide and this tall, a region holds no line of text...
TURNED = 75.0  # ...unless it reads this well turned a quarter (vertical text)
NARROWEST = 0.2  # the narrowest characters' width, as a share of their line's height
LETTERS = 50.0  # confidence at which a short English reading counts as letters
SCRIPT = 60.0  # the same for a Chinese, Japanese or Korean reading
COLOURS = 6  # main colours a region over flow is split into: flow's, text's, background


@dataclass(frozen=True)
class Context:
    identifiers: IdentifierSet
    allow: classify.AllowList
    data_regions: tuple[tuple[int, int, int, int], ...] = ()  # (x, y, w, h)
    ultrasound: bool = False  # colour flow exists only here


@dataclass(frozen=True)
class Region:
    """A region judged: text (with its label) or not (and why)."""

    box: Box
    text: str
    confidence: float
    label: classify.Label
    not_text: str = ""  # why it is not text ("" when it is)
    evidence: dict | None = None
    noted: bool = True  # a region found not to be text is reported (not squarish noise)

    @property
    def is_text(self) -> bool:
        return not self.not_text


def few_characters(box: Box, text: str) -> bool:
    """Lines of text are wide; a squarish region with fewer than three legible
    characters needs more than its reading to count as text."""
    return box.w < 2 * box.h and sum(c.isalnum() for c in text) < 3


def under_read(box: Box, text: str) -> bool:
    """OCR that returns far fewer characters than a line this long holds has
    misread it (a wide box read as ':'); an allow-listed reading then proves
    nothing, so the region is treated as unread and redacted. Characters are
    about half as wide as the box is high, margins included."""
    expected = box.w / (0.5 * box.h)
    return sum(c.isalnum() for c in text) < 0.3 * expected


def over_read(box: Box, text: str) -> bool:
    """More characters than one line of this box can hold. OCR reads every
    box as one line (deid.pixels.ocr), so texture squashed into a line can
    come out as confident letters: a squarish 300 px skull section read as
    "roy kod". Even narrow characters (I, 1, l) are a fifth as wide as the
    box is high."""
    return sum(c.isalnum() for c in text) > box.w / (NARROWEST * box.h)


def _inside(box: Box, regions: tuple[tuple[int, int, int, int], ...]) -> bool:
    cx, cy = box.x + box.w / 2, box.y + box.h / 2
    return any(x <= cx < x + w and y <= cy < y + h for x, y, w, h in regions)


def judge(rgb: np.ndarray, box: Box, reading: Reading, ctx: Context) -> list[Region]:
    """The region as text or not; text over colour flow may come back as
    smaller regions of its own."""
    kind = classify.label(reading.text, ctx.identifiers, ctx.allow)
    if kind.kind == "marker" and under_read(box, reading.text):
        kind = classify.Label("unread")
    if kind.kind not in ("phi", "pattern") and over_read(box, reading.text):
        kind = classify.Label("unread")  # read into texture: the evidence decides
    if kind.kind in ("phi", "pattern"):
        return [Region(box, reading.text, reading.confidence, kind)]
    seen = evidence.measure(rgb, box.x, box.y, box.w, box.h)
    if box.h > box.w and box.h > TALL:
        upright = _turned(rgb, box, ctx, seen)
        if upright is not None:
            return [upright]
    in_data = _inside(box, ctx.data_regions) or (ctx.ultrasound and seen.flow)
    if in_data and (kind.kind == "unread" or reading.confidence < DOUBTFUL):
        return _in_data(rgb, box, reading, kind, seen, ctx)
    if box.h > box.w and box.h > TALL and seen.clearly_not_text:
        why = f"taller than wide, reads as no words either way; {seen.why_not()}"
        return [Region(box, reading.text, reading.confidence, kind, why, seen.as_dict(), False)]
    if few_characters(box, reading.text):
        return [_short(rgb, box, reading, ctx, seen)]
    if kind.kind != "unread" and reading.confidence >= GARBLED:
        return [Region(box, reading.text, reading.confidence, kind)]
    if not ctx.ultrasound and box.w < BLOB * box.h and seen.clearly_not_text:
        # A blob-shaped region OCR cannot read, textured like anatomy: bone,
        # vessels, lung (text lines are long; short words are read).
        why = seen.why_not() or "nothing drawn"
        return [Region(box, reading.text, reading.confidence, kind, why, seen.as_dict(), False)]
    return [Region(box, reading.text, reading.confidence, kind, evidence=seen.as_dict())]


def _turned(
    rgb: np.ndarray, box: Box, ctx: Context, seen: evidence.Evidence
) -> Region | None:
    """A region taller than wide read a quarter turn either way: vertical
    text along an image's edge. The region as text when either reads as
    identifying, or clearly as words where nothing says it is texture;
    else None."""
    from deid.pixels import ocr

    crop = np.ascontiguousarray(rgb[box.y : box.y + box.h, box.x : box.x + box.w])
    for turns in (1, 3):
        turned = np.ascontiguousarray(np.rot90(crop, turns))
        whole = type(box)(0, 0, turned.shape[1], turned.shape[0])
        reading = ocr.read(turned, [whole])[0]
        kind = classify.label(reading.text, ctx.identifiers, ctx.allow)
        legible = sum(c.isalnum() for c in reading.text) >= 3
        words = legible and reading.confidence >= TURNED and not seen.clearly_not_text
        if kind.kind in ("phi", "pattern") or words:
            return Region(box, reading.text, reading.confidence, kind)
    return None


def _in_data(
    rgb: np.ndarray,
    box: Box,
    reading: Reading,
    kind: classify.Label,
    seen: evidence.Evidence,
    ctx: Context,
) -> list[Region]:
    """A region OCR reads badly or not at all where the ultrasound image
    is (or colour-mapped like flow): text there is lines of one colour."""
    def cleared(why: str) -> list[Region]:
        return [Region(box, reading.text, reading.confidence, kind, why, seen.as_dict())]

    if box.h > box.w and box.h > TALL:
        return cleared("taller than wide: no line of text (a cavity, a wall)")
    if seen.coloured > 0.1:  # text over flow, or flow: each colour read alone decides
        found = _by_colour(rgb, box, ctx)
        if found:
            return found
        if few_characters(box, reading.text):
            return [_short(rgb, box, reading, ctx, seen)]
        return cleared(seen.why_not() or "coloured, and no colour of it reads as words")
    if seen.clearly_not_text:
        return cleared(seen.why_not())
    if few_characters(box, reading.text):
        return [_short(rgb, box, reading, ctx, seen)]
    return [Region(box, reading.text, reading.confidence, kind, evidence=seen.as_dict())]


def _short(
    rgb: np.ndarray, box: Box, reading: Reading, ctx: Context, seen: evidence.Evidence
) -> Region:
    """A squarish region of one or two characters: text when it reads as
    letters in some script and looks like text. Without CJK language data,
    one that looks like text but reads as no letters is redacted as text."""
    from deid.pixels import ocr

    text, confidence = reading.text, reading.confidence
    letters = any(c.isalpha() for c in text) and confidence >= LETTERS
    if not letters:
        script = ocr.read_scripts(rgb, box)
        if script is None:  # no CJK data installed: cannot tell, so text if it looks so
            letters = seen.text_like
            text, confidence = "", 0.0
        elif any(_cjk(c) for c in script.text) and script.confidence >= SCRIPT:
            letters = True
            text, confidence = script.text, script.confidence
    if not letters or not seen.text_like:
        why = seen.why_not() or "reads as no letters"
        return Region(box, text, confidence, classify.Label("text"), why, seen.as_dict(), False)
    kind = classify.label(text, ctx.identifiers, ctx.allow) if text else classify.Label("unread")
    return Region(box, text, confidence, kind, evidence=seen.as_dict())


def _cjk(c: str) -> bool:
    """A Han, kana or Hangul character."""
    code = ord(c)
    return (
        0x3040 <= code <= 0x30FF  # kana
        or 0x3400 <= code <= 0x9FFF  # CJK ideographs
        or 0xAC00 <= code <= 0xD7AF  # Hangul syllables
        or 0x1100 <= code <= 0x11FF
    )


def _by_colour(rgb: np.ndarray, box: Box, ctx: Context) -> list[Region]:
    """Text drawn over colour flow: text is one colour, so each of the
    region's main colours is shown alone (white on black) to the detector
    and OCR. Only what reads as words comes back; flow alone reads as
    nothing."""
    from deid.cv import cv2
    from deid.pixels import detect, ocr

    crop = np.ascontiguousarray(rgb[box.y : box.y + box.h, box.x : box.x + box.w])
    samples = crop.reshape(-1, 3).astype(np.float32)
    if len(samples) < COLOURS * 4:
        return []
    cv2.setRNGSeed(COLOURS)  # the same clusters on every run
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0)
    _, labels, _ = cv2.kmeans(samples, COLOURS, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    labels = labels.reshape(crop.shape[:2])
    scale = 2.0 if min(box.w, box.h) < 96 else 1.0
    found: list[Region] = []
    for k in range(COLOURS):
        mask = labels == k
        if not 0.02 <= mask.mean() <= 0.5:
            continue
        alone = np.where(mask, 255, 0).astype(np.uint8)
        picture = np.ascontiguousarray(np.dstack([alone, alone, alone]))
        boxes = detect.find_text(picture, scale=scale)
        for inner, reading in zip(boxes, ocr.read(picture, boxes), strict=True):
            kind = classify.label(reading.text, ctx.identifiers, ctx.allow)
            legible = sum(c.isalnum() for c in reading.text) >= 3
            words = legible and reading.confidence >= LETTERS
            if kind.kind not in ("phi", "pattern") and not words:
                continue
            moved = type(inner)(inner.x + box.x, inner.y + box.y, inner.w, inner.h, inner.score)
            found.append(Region(moved, reading.text, reading.confidence, kind))
    return found
