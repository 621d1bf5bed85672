"""Read the words in detected boxes with one Tesseract call per image.

All crops of an image are normalised to one text height, binarised with a
threshold of their own (a global one separates body from air, not ink from
background) and stacked into a single mosaic that is read at once. Tesseract
runs in-process through tesserocr (~10 ms a call); starting the tesseract
binary through pytesseract costs ~140 ms a call, and is the fallback where
the tesserocr wheel is not available. Both use the system's tessdata (Debian
tesseract-ocr), so both read the same way.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from deid.cv import cv2
from deid.errors import UsageError
from deid.pixels.detect import Box
from deid.pixels.settings import tesseract_available

LINE_HEIGHT = 36  # Tesseract reads best around 30-40 px cap-to-descender
GAP = 14
MAX_WIDTH = 2400


@dataclass(frozen=True)
class Reading:
    text: str  # words read in the box, space separated ("" when unreadable)
    confidence: float  # mean Tesseract word confidence, 0-100


def _normalised(rgb: np.ndarray, box: Box) -> np.ndarray:
    # Only the box is converted: on a 512x512 slice with one small label,
    # converting the whole frame cost more than reading the label.
    crop = _gray(np.ascontiguousarray(rgb[box.y : box.y + box.h, box.x : box.x + box.w]))
    scale = LINE_HEIGHT / max(1, crop.shape[0])
    width = max(1, min(MAX_WIDTH - 20, int(round(crop.shape[1] * scale))))
    crop = cv2.resize(crop, (width, LINE_HEIGHT), interpolation=cv2.INTER_CUBIC)
    _, binary = cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    # Background is the majority class: make it white, ink black.
    if np.count_nonzero(binary) < binary.size / 2:
        binary = 255 - binary
    return cv2.copyMakeBorder(binary, 6, 6, 10, 10, cv2.BORDER_CONSTANT, value=255)


def _gray(rgb: np.ndarray) -> np.ndarray:
    """Luminance, but coloured ink on gray counts too (yellow overlay text),
    judged within the region being read."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    spread = (rgb.max(axis=2).astype(np.int16) - rgb.min(axis=2)).astype(np.uint8)
    if spread.max() > 64:
        return cv2.max(gray, spread)
    return gray


@cache
def _tessdata() -> str:
    """Where the system's traineddata files are (the tesserocr wheel has none)."""
    prefix = os.environ.get("TESSDATA_PREFIX")
    if prefix and (Path(prefix) / "eng.traineddata").is_file():
        return prefix
    listing = subprocess.run(
        [tesseract_available(), "--list-langs"], capture_output=True, text=True, check=False
    )
    found = re.search(r'"([^"]+)"', listing.stdout + listing.stderr)
    if found and (Path(found.group(1)) / "eng.traineddata").is_file():
        return found.group(1)
    raise UsageError("tesseract has no English data (eng.traineddata): install tesseract-ocr-eng")


_LOCAL = threading.local()  # a Tesseract instance serves one thread at a time


def _per_thread(name: str, make):  # noqa: ANN001, ANN202 - tesserocr types
    """This thread's instance of `name`, made on first use."""
    if not hasattr(_LOCAL, name):
        setattr(_LOCAL, name, make())
    return getattr(_LOCAL, name)


def _api():  # noqa: ANN202 - tesserocr type, or None for the pytesseract fallback
    return _per_thread("english", _make_api)


def _make_api():  # noqa: ANN202
    # One OpenMP thread (workers already use every core): deid.host_state
    # sets OMP_THREAD_LIMIT while deid runs, before Tesseract loads.
    try:
        import tesserocr
    except ImportError:
        return None
    return tesserocr.PyTessBaseAPI(
        path=_tessdata().rstrip("/") + "/",
        lang="eng",
        psm=tesserocr.PSM.SINGLE_BLOCK,
        oem=tesserocr.OEM.LSTM_ONLY,
    )


def _words(mosaic: np.ndarray) -> list[tuple[str, float, int, int]]:
    """(text, confidence, top, height) of every word in the mosaic."""
    api = _api()
    if api is None:
        import pytesseract

        pytesseract.pytesseract.tesseract_cmd = tesseract_available()
        data = pytesseract.image_to_data(
            mosaic, config="--psm 6 --oem 1", output_type=pytesseract.Output.DICT
        )
        return [
            (str(t), float(c), int(top), int(h))
            for t, c, top, h in zip(
                data["text"], data["conf"], data["top"], data["height"], strict=False
            )
        ]
    import tesserocr

    height, width = mosaic.shape
    api.SetImageBytes(mosaic.tobytes(), width, height, 1, width)
    api.Recognize()
    out = []
    iterator = api.GetIterator()
    level = tesserocr.RIL.WORD
    if iterator is not None:
        while True:
            try:
                text = iterator.GetUTF8Text(level)
            except RuntimeError:  # an empty word
                text = ""
            box = iterator.BoundingBox(level)
            if text and box:
                out.append((text, float(iterator.Confidence(level)), box[1], box[3] - box[1]))
            if not iterator.Next(level):
                break
    return out


# Scripts read where English reads nothing legible: Chinese, Japanese and
# Korean names (Debian tesseract-ocr-chi-sim, -jpn, -kor; .ci/setup).
SCRIPTS = ("chi_sim", "jpn", "kor")


@cache
def scripts_available() -> tuple[str, ...]:
    """The CJK languages whose traineddata is installed."""
    try:
        folder = Path(_tessdata())
    except UsageError:
        return ()
    return tuple(lang for lang in SCRIPTS if (folder / f"{lang}.traineddata").is_file())


def _script_api():  # noqa: ANN202 - tesserocr type, or None
    """One line in any of the installed CJK scripts (loaded on first use:
    a second or so, paid only by files with a short unreadable region)."""
    return _per_thread("scripts", _make_script_api)


def _make_script_api():  # noqa: ANN202
    langs = scripts_available()
    if not langs:
        return None
    try:
        import tesserocr
    except ImportError:
        return None
    return tesserocr.PyTessBaseAPI(
        path=_tessdata().rstrip("/") + "/",
        lang="+".join(langs),
        psm=tesserocr.PSM.SINGLE_LINE,
        oem=tesserocr.OEM.LSTM_ONLY,
    )


def read_scripts(rgb: np.ndarray, box: Box) -> Reading | None:
    """The box read as one line of Chinese, Japanese or Korean; None when no
    such language data is installed."""
    tile = np.ascontiguousarray(_normalised(rgb, box))
    api = _script_api()
    if api is None:
        langs = scripts_available()
        if not langs:
            return None
        import pytesseract

        pytesseract.pytesseract.tesseract_cmd = tesseract_available()
        data = pytesseract.image_to_data(
            tile, lang="+".join(langs), config="--psm 7 --oem 1",
            output_type=pytesseract.Output.DICT,
        )
        words = [(str(t), float(c)) for t, c in zip(data["text"], data["conf"], strict=False)]
        words = [(t, c) for t, c in words if t.strip()]
        conf = float(np.mean([c for _, c in words])) if words else 0.0
        return Reading("".join(t for t, _ in words), round(conf, 1))
    height, width = tile.shape
    api.SetImageBytes(tile.tobytes(), width, height, 1, width)
    api.Recognize()
    text = "".join(api.GetUTF8Text().split())
    return Reading(text, round(float(api.MeanTextConf()), 1) if text else 0.0)


def read(rgb: np.ndarray, boxes: list[Box]) -> list[Reading]:
    """One reading per box, in order."""
    if not boxes:
        return []
    tiles = [_normalised(rgb, box) for box in boxes]
    width = max(t.shape[1] for t in tiles)
    rows, spans, y = [], [], 0
    for tile in tiles:
        padded = cv2.copyMakeBorder(
            tile, 0, GAP, 0, width - tile.shape[1], cv2.BORDER_CONSTANT, value=255
        )
        rows.append(padded)
        spans.append((y, y + tile.shape[0]))
        y += padded.shape[0]
    mosaic = np.ascontiguousarray(np.vstack(rows))
    words: list[list[tuple[str, float]]] = [[] for _ in boxes]
    for text, conf, top, height in _words(mosaic):
        text = text.strip()
        if not text:
            continue
        middle = top + height / 2
        for i, (a, b) in enumerate(spans):
            if a <= middle < b + GAP / 2:
                words[i].append((text, conf))
                break
    out = []
    for found in words:
        conf = float(np.mean([c for _, c in found])) if found else 0.0
        out.append(Reading(" ".join(t for t, _ in found), round(conf, 1)))
    return out
