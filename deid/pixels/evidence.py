"""Does a detected region look like text? Colour and texture evidence.

Burned-in text is thin strokes of one colour on a contrasting, fairly even
background. Colour flow is colour-mapped (many levels and hues); echo
speckle, spectral Doppler and anatomy are textured on both sides of any
threshold. The detector, trained on scene text, sometimes takes them for
words, and OCR then reads nothing: this is the evidence that decides those
regions (inside ultrasound data regions, and squarish regions of one or two
characters), never the ones OCR reads as identifying.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Measured on the labelled corpus (fixtures/burned_in.py): words drawn over
# backgrounds of every kind against text-free ultrasound, echo, Doppler,
# radiographs and CT/MR (tests/test_pixels.py asserts both sides).
INK_SPREAD = 0.6  # 10-90% range of the ink's colour, over the ink/background contrast
BACKGROUND_SPREAD = 0.55  # the same for the background
STROKE = 0.3  # stroke width over the region's height
INK_FRACTION = (0.03, 0.5)  # text covers part of its box, never most of it
MIN_CONTRAST = 24.0  # gray levels between ink and background
HOLLOW = 0.25  # text fills the middle of its box; a cavity's walls only frame it
FLOW = 0.5  # share of the ink that is strongly coloured...
HUES = 12.0  # ...over at least this range of hue (degrees/2, OpenCV's scale): a colour map


@dataclass(frozen=True)
class Evidence:
    ink_spread: float
    background_spread: float
    stroke: float
    ink_fraction: float
    contrast: float
    coloured: float  # share of ink pixels with a strong colour
    hues: float  # range of hue over those pixels
    centre: float = 1.0  # ink density in the middle of the region over its density overall

    @property
    def flow(self) -> bool:
        """Strongly coloured over a range of hues (red to yellow, blue to cyan):
        a colour map, not a word in one colour."""
        return self.coloured >= FLOW and self.hues >= HUES

    def why_not(self) -> str:
        """Why this is not text ("" when it looks like text)."""
        if self.flow:
            return "colour-mapped like flow"
        if not INK_FRACTION[0] <= self.ink_fraction <= INK_FRACTION[1]:
            return "no stroke pattern"
        if self.centre < HOLLOW:
            return "ink only at its edges (a cavity, a wall)"
        if self.contrast < MIN_CONTRAST:
            return "no contrast"
        if self.ink_spread > INK_SPREAD:
            return "uneven like texture"
        if self.background_spread > BACKGROUND_SPREAD:
            return "on a textured background"
        if self.stroke > STROKE:
            return "blobs, not strokes"
        return ""

    @property
    def text_like(self) -> bool:
        return not self.why_not()

    @property
    def clearly_not_text(self) -> bool:
        """Flow, nothing drawn at all, or contrasting structure that is not
        strokes of one colour. Faint regions are not cleared: text at low
        contrast looks like that too."""
        if self.flow or self.ink_fraction < INK_FRACTION[0]:
            return True
        return self.contrast >= MIN_CONTRAST and not self.text_like

    def as_dict(self) -> dict[str, float]:
        return {k: round(float(v), 3) for k, v in self.__dict__.items()}


def measure(rgb: np.ndarray, x: int, y: int, w: int, h: int) -> Evidence:
    """Evidence for the region (x, y, w, h) of an 8-bit RGB picture."""
    from deid.cv import cv2

    crop = np.ascontiguousarray(rgb[y : y + h, x : x + w]).astype(np.float32)
    h, w = crop.shape[:2]
    if crop.size == 0:
        return Evidence(9.0, 9.0, 1.0, 0.0, 0.0, 0.0, 0.0)
    value = crop.max(axis=2)  # coloured ink counts as bright as its brightest channel
    _, binary = cv2.threshold(value.astype(np.uint8), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    ink = binary > 0
    if ink.mean() > 0.5:
        ink = ~ink  # ink is the minority
    if ink.sum() < 4 or (~ink).sum() < 4:
        return Evidence(9.0, 9.0, 1.0, float(ink.mean()), 0.0, 0.0, 0.0)
    ink_mean, back_mean = value[ink].mean(), value[~ink].mean()
    contrast = float(abs(ink_mean - back_mean))
    scale = max(1.0, contrast)
    strong = ink & (np.abs(value - back_mean) > 0.6 * contrast)  # anti-aliased edges left out
    if strong.sum() < 3:
        strong = ink
    colours = crop[strong]
    ink_spread = float((np.percentile(colours, 90, 0) - np.percentile(colours, 10, 0)).max())
    back = value[~ink]
    back_spread = float(np.percentile(back, 90) - np.percentile(back, 10))
    dist = cv2.distanceTransform(ink.astype(np.uint8), cv2.DIST_L2, 3)
    stroke = 2 * float(np.percentile(dist[ink], 90)) / max(1, h)
    chroma = colours.max(axis=1) - colours.min(axis=1)
    vivid = colours[chroma > 60]
    middle = ink[h // 4 : h - h // 4, w // 4 : w - w // 4]
    centre = float(middle.mean()) / max(1e-6, float(ink.mean())) if middle.size else 1.0
    return Evidence(
        ink_spread / scale,
        back_spread / scale,
        stroke,
        float(ink.mean()),
        contrast,
        float((chroma > 60).mean()),
        _hue_range(vivid),
        centre,
    )


def _hue_range(colours: np.ndarray) -> float:
    """10-90% range of hue (OpenCV's 0-180), the shorter way round the circle."""
    from deid.cv import cv2

    if len(colours) < 8:
        return 0.0
    hue = cv2.cvtColor(colours.reshape(-1, 1, 3).astype(np.uint8), cv2.COLOR_RGB2HSV)[:, 0, 0]
    hue = hue.astype(np.float32)
    spans = []
    for shift in (0.0, 90.0):
        turned = (hue + shift) % 180
        spans.append(float(np.percentile(turned, 90) - np.percentile(turned, 10)))
    return min(spans)
