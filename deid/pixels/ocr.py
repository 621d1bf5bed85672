"""Read the words in detected boxes with one Tesseract call per image.

Starting the tesseract binary costs ~90 ms, so all crops of an image are
normalised to one text height, binarised with a threshold of their own (a
global one separates body from air, not ink from background) and stacked
into a single mosaic that is read at once.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from deid.errors import UsageError
from deid.pixels.detect import Box

LINE_HEIGHT = 36  # Tesseract reads best around 30-40 px cap-to-descender
GAP = 14
MAX_WIDTH = 2400


@dataclass(frozen=True)
class Reading:
    text: str  # words read in the box, space separated ("" when unreadable)
    confidence: float  # mean Tesseract word confidence, 0-100


@cache
def tesseract_available() -> str:
    """The tesseract binary, or a one-line error saying how to get it."""
    path = shutil.which("tesseract")
    if not path:
        raise UsageError(
            "tesseract is not installed (needed to read burned-in text): install Debian's "
            "tesseract-ocr package, or run with --pixels off"
        )
    return path


def _normalised(gray: np.ndarray, box: Box) -> np.ndarray:
    crop = gray[box.y : box.y + box.h, box.x : box.x + box.w]
    scale = LINE_HEIGHT / max(1, crop.shape[0])
    width = max(1, min(MAX_WIDTH - 20, int(round(crop.shape[1] * scale))))
    crop = cv2.resize(crop, (width, LINE_HEIGHT), interpolation=cv2.INTER_CUBIC)
    _, binary = cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    # Background is the majority class: make it white, ink black.
    if np.count_nonzero(binary) < binary.size / 2:
        binary = 255 - binary
    return cv2.copyMakeBorder(binary, 6, 6, 10, 10, cv2.BORDER_CONSTANT, value=255)


def _gray(rgb: np.ndarray) -> np.ndarray:
    """Luminance, but coloured ink on gray counts too (yellow overlay text)."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    spread = (rgb.max(axis=2).astype(np.int16) - rgb.min(axis=2)).astype(np.uint8)
    if spread.max() > 64:
        return cv2.max(gray, spread)
    return gray


def read(rgb: np.ndarray, boxes: list[Box]) -> list[Reading]:
    """One reading per box, in order."""
    if not boxes:
        return []
    import pytesseract

    pytesseract.pytesseract.tesseract_cmd = tesseract_available()
    gray = _gray(rgb)
    tiles = [_normalised(gray, box) for box in boxes]
    width = max(t.shape[1] for t in tiles)
    rows, spans, y = [], [], 0
    for tile in tiles:
        padded = cv2.copyMakeBorder(
            tile, 0, GAP, 0, width - tile.shape[1], cv2.BORDER_CONSTANT, value=255
        )
        rows.append(padded)
        spans.append((y, y + tile.shape[0]))
        y += padded.shape[0]
    mosaic = np.vstack(rows)
    data = pytesseract.image_to_data(
        mosaic, config="--psm 6 --oem 1", output_type=pytesseract.Output.DICT
    )
    words: list[list[tuple[str, float]]] = [[] for _ in boxes]
    for text, conf, top, height in zip(
        data["text"], data["conf"], data["top"], data["height"], strict=False
    ):
        text = str(text).strip()
        if not text:
            continue
        middle = top + height / 2
        for i, (a, b) in enumerate(spans):
            if a <= middle < b + GAP / 2:
                words[i].append((text, float(conf)))
                break
    out = []
    for found in words:
        conf = float(np.mean([c for _, c in found])) if found else 0.0
        out.append(Reading(" ".join(t for t, _ in found), round(conf, 1)))
    return out
