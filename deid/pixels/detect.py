"""Where is text? A learned detector (PP-OCRv4 DB) run with onnxruntime.

Whole-image OCR misses most words on medical images because one global
threshold separates body from air, not text from background; a detector
trained on scene text finds words over anatomy and at low contrast, and
returns boxes that redaction can trust without reading them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from deid.cv import cv2

MODELS = Path(__file__).resolve().parent.parent / "models"
MODEL = MODELS / "ppocr-v4-det.onnx"
# The same network with 8-bit convolutions (deid/models/quantise.py): about
# three quarters of the CPU, for series of hundreds of slices.
FAST_MODEL = MODELS / "ppocr-v4-det-int8.onnx"
MEAN = np.array([0.485, 0.456, 0.406], np.float32) * 255
STD = np.array([0.229, 0.224, 0.225], np.float32) * 255
PIXEL_THRESHOLD = 0.3  # probability that a pixel belongs to text
BOX_THRESHOLD = 0.5  # mean probability inside a kept region
UNCLIP = 1.6  # DB shrinks text regions by this ratio in training; grow back
SMALL_IMAGE = 512  # images with a shorter side are upscaled: small text
MAX_SIDE = 2048  # larger images are read in tiles, at their own size
TILE = 1024  # a 2048 px tile's network held 1.8 GB for one mammogram
TILE_OVERLAP = 128  # a line cut by one tile's edge lies whole in its neighbour


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int
    score: float = 1.0
    source: str = "detector"  # detector | region-rule | ultrasound-region

    def grown(self, margin: int, width: int, height: int) -> Box:
        x0, y0 = max(0, self.x - margin), max(0, self.y - margin)
        x1 = min(width, self.x + self.w + margin)
        y1 = min(height, self.y + self.h + margin)
        return Box(x0, y0, x1 - x0, y1 - y0, self.score, self.source)

    def as_list(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]


def fast_allowed() -> bool:
    """DEID_DETECTOR=float keeps the float network for every image."""
    return os.environ.get("DEID_DETECTOR", "auto").strip().lower() != "float"


def _threads() -> int:
    # Workers already use every core; threads inside each would fight them.
    return int(os.environ.get("DEID_OCR_THREADS", "1"))


@cache
def _session(fast: bool = False, count: int = 1):  # noqa: ANN202 - onnxruntime type
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = count
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    if count > 1:  # threads that wait spin by default: CPU other work could use
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    model = FAST_MODEL if fast else MODEL
    return ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])


def warm(fast: bool = False) -> None:
    """Load the network now (a background thread can, while other work runs)."""
    _session(fast and fast_allowed(), _threads())


def _input_size(height: int, width: int, scale: float | None = None) -> tuple[int, int, float]:
    if scale is None:
        scale = 1.0
        if min(height, width) < SMALL_IMAGE:
            scale = min(2.0, SMALL_IMAGE / min(height, width))
    if max(height, width) * scale > MAX_SIDE:
        scale = MAX_SIDE / max(height, width)
    h = max(32, int(round(height * scale / 32)) * 32)
    w = max(32, int(round(width * scale / 32)) * 32)
    return h, w, scale


def network_input(rgb: np.ndarray, scale: float | None = None) -> np.ndarray:
    """The image as the network takes it (also what the 8-bit network is
    calibrated on). Planar float, normalised per channel in place: the
    per-slice cost outside the network matters when every slice of a CT
    series is checked."""
    height, width = rgb.shape[:2]
    h, w, _ = _input_size(height, width, scale)
    resized = rgb if (h, w) == (height, width) else cv2.resize(rgb, (w, h))
    blob = np.empty((1, 3, h, w), np.float32)
    for c in range(3):
        plane = blob[0, c]
        plane[...] = resized[..., c]
        plane -= MEAN[c]
        plane *= 1.0 / STD[c]
    return blob


def probability(rgb: np.ndarray, scale: float | None = None, fast: bool = False) -> np.ndarray:
    """Per-pixel text probability at the image's own size. An image larger
    than MAX_SIDE is read in overlapping tiles at its own size: shrunk to
    fit, a mammogram's 7-9 px print fell below what the detector sees, and
    its name was written back legible."""
    height, width = rgb.shape[:2]
    if scale is None and max(height, width) > MAX_SIDE:
        return _tiled(rgb, fast)
    blob = network_input(rgb, scale)
    session = _session(fast and fast_allowed(), _threads())
    prob = session.run(None, {session.get_inputs()[0].name: blob})[0][0, 0]
    if prob.shape != (height, width):
        prob = cv2.resize(prob, (width, height), interpolation=cv2.INTER_LINEAR)
    return prob


def _tiled(rgb: np.ndarray, fast: bool) -> np.ndarray:
    height, width = rgb.shape[:2]
    prob = np.zeros((height, width), np.float32)
    for y0 in _tile_starts(height):
        for x0 in _tile_starts(width):
            tile = np.ascontiguousarray(rgb[y0 : y0 + TILE, x0 : x0 + TILE])
            part = probability(tile, 1.0, fast)
            view = prob[y0 : y0 + tile.shape[0], x0 : x0 + tile.shape[1]]
            np.maximum(view, part, out=view)
    return prob


def _tile_starts(size: int) -> list[int]:
    """Tile origins covering 0..size, the last tile ending at the edge."""
    if size <= TILE:
        return [0]
    starts = list(range(0, size - TILE, TILE - TILE_OVERLAP))
    return starts + [size - TILE]


def find_text(rgb: np.ndarray, scale: float | None = None, fast: bool = False) -> list[Box]:
    """Axis-aligned boxes around text regions (rotated text: its bounding box).
    scale: network input size relative to the image (default: upscale small images);
    fast: the 8-bit network."""
    prob = probability(rgb, scale, fast)
    mask = (prob > PIXEL_THRESHOLD).astype(np.uint8)
    mask = cv2.dilate(mask, np.ones((2, 2), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    boxes = []
    height, width = rgb.shape[:2]
    for i in range(1, count):
        x, y, w, h, area = (int(v) for v in stats[i])
        if min(w, h) < 2:
            continue
        score = float(prob[y : y + h, x : x + w][labels[y : y + h, x : x + w] == i].mean())
        if score < BOX_THRESHOLD:
            continue
        grow = int(np.ceil(area * UNCLIP / (2 * (w + h))))
        boxes.append(Box(x, y, w, h, round(score, 3)).grown(grow, width, height))
    return merge_lines(boxes)


def merge_lines(boxes: list[Box]) -> list[Box]:
    """Join pieces of one line (the detector splits words at wide gaps and
    small text into fragments): OCR then reads whole words, and a fragment is
    judged as part of its line rather than as a lone blob."""
    merged = sorted(boxes, key=lambda b: (b.y, b.x))
    changed = True
    while changed:
        merged, changed = _merge_round(merged)
    return merged


# Boxes are looked up by the bands of this many pixel rows they span: only
# boxes sharing a row can join. Each box was compared with every box kept so
# far, in rounds until nothing joined: a page of 6 000 small numbers took
# minutes. The result is the same (each box joins the first it can, in order).
_BAND = 16


def _merge_round(boxes: list[Box]) -> tuple[list[Box], bool]:
    out: list[Box] = []
    bands: dict[int, list[int]] = {}
    changed = False
    for box in boxes:
        near = sorted({i for band in _bands(box) for i in bands.get(band, ())})
        i = next((i for i in near if _joinable(box, out[i])), None)
        if i is None:
            i = len(out)
            out.append(box)
        else:
            out[i] = _joined(box, out[i])
            changed = True
        for band in _bands(out[i]):
            bands.setdefault(band, []).append(i)
    return out, changed


def _bands(box: Box) -> range:
    return range(box.y // _BAND, (box.y + max(box.h, 1) - 1) // _BAND + 1)


def _joinable(box: Box, other: Box) -> bool:
    """Pieces of one line: rows mostly shared, a gap under a letter's width,
    heights alike."""
    overlap = min(box.y + box.h, other.y + other.h) - max(box.y, other.y)
    gap = max(box.x, other.x) - min(box.x + box.w, other.x + other.w)
    short = min(box.h, other.h)
    return overlap > 0.6 * short and gap < 0.8 * short and max(box.h, other.h) < 1.8 * short


def _joined(box: Box, other: Box) -> Box:
    x0, y0 = min(box.x, other.x), min(box.y, other.y)
    x1 = max(box.x + box.w, other.x + other.w)
    y1 = max(box.y + box.h, other.y + other.h)
    return Box(x0, y0, x1 - x0, y1 - y0, max(box.score, other.score))
