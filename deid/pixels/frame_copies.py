"""Burned-in text that stays put across a multi-frame image is one text.

A cine loop draws its annotations in the same place on every frame, but
detection and reading run frame by frame, and their decisions flip on
noise: the same words of an ultrasound loop were redacted in 17 frames and
kept in 13 (read there as an allow-listed marker, or cleared as texture),
and a scan of the output then found them, read another way, in the frames
left. So what is redacted in one frame is redacted in every frame whose
pixels there are the same. Where the picture under it changes (text over
live anatomy, a moving caliper label), the frames differ and each keeps its
own decision.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAME = 0.9  # share of a redacted area's pixels that must match for the same text
TOLERANCE = 0.03  # of the area's range: lossy coding changes static pixels a little
SHAPES = 8  # redacted areas of one place compared, most frequent first
CHUNK = 1 << 22  # pixel values compared at once


@dataclass(frozen=True)
class Copy:
    """Pixels of `frame` redacted because `source` redacted the same ones."""

    frame: int
    source: int
    box: tuple[int, int, int, int]  # x, y, w, h of the area added


def spread(frames: np.ndarray, masks: dict[int, np.ndarray]) -> list[Copy]:
    """Add, in place, each redacted area to the masks of the frames whose
    pixels there match the frame it was redacted in."""
    if frames.shape[0] < 2 or not masks:
        return []
    from deid.cv import cv2

    union = np.zeros(frames.shape[1:3], bool)
    for mask in masks.values():
        union |= mask
    count, _, stats, _ = cv2.connectedComponentsWithStats(union.astype(np.uint8), connectivity=8)
    copies: list[Copy] = []
    for index in range(1, count):
        x, y, w, h = (int(v) for v in stats[index][:4])
        place = (slice(y, y + h), slice(x, x + w))
        for source, shape in _shapes(masks, place):
            copies += _copy(frames, masks, place, source, shape)
    return copies


def _shapes(
    masks: dict[int, np.ndarray], place: tuple[slice, slice]
) -> list[tuple[int, np.ndarray]]:
    """The distinct redacted areas at one place, each with the first frame
    that has it; most frequent first, at most SHAPES (a static overlay has
    a few, its boxes jittering a pixel or two)."""
    seen: dict[bytes, tuple[int, np.ndarray, int]] = {}
    for frame in sorted(masks):
        shape = masks[frame][place]
        if not shape.any():
            continue
        key = np.packbits(shape).tobytes()
        first, kept, uses = seen.get(key) or (frame, shape.copy(), 0)
        seen[key] = (first, kept, uses + 1)
    ranked = sorted(seen.values(), key=lambda item: (-item[2], item[0]))
    return [(frame, shape) for frame, shape, _ in ranked[:SHAPES]]


def _copy(
    frames: np.ndarray,
    masks: dict[int, np.ndarray],
    place: tuple[slice, slice],
    source: int,
    shape: np.ndarray,
) -> list[Copy]:
    """The source frame's area added to every frame not yet covering it
    whose pixels under it match the source's."""
    matching = _matching(frames, place, source, shape)
    ys, xs = np.nonzero(shape)
    box = (place[1].start + int(xs.min()), place[0].start + int(ys.min()),
           int(xs.max() - xs.min()) + 1, int(ys.max() - ys.min()) + 1)
    copies = []
    for frame in np.nonzero(matching)[0].tolist():
        held = masks.get(frame)
        if held is not None and held[place][shape].all():
            continue
        if held is None:
            held = masks[frame] = np.zeros(frames.shape[1:3], bool)
        held[place] |= shape
        copies.append(Copy(frame, source, box))
    return copies


def _matching(
    frames: np.ndarray,
    place: tuple[slice, slice],
    source: int,
    shape: np.ndarray,
) -> np.ndarray:
    """Which frames have the source's pixels under `shape`; a few frames at a
    time, so a long loop is never copied whole. The tolerance is a share of
    the area's own contrast (strokes against their background), not of the
    loop's: one bright spot elsewhere made any two areas alike."""
    reference = frames[(source, *place)].astype(np.int64)
    under = reference[shape]
    tolerance = TOLERANCE * max(1, int(under.max()) - int(under.min()))
    step = max(1, CHUNK // max(1, reference.size))
    matching = np.zeros(frames.shape[0], bool)
    for start in range(0, frames.shape[0], step):
        area = frames[(slice(start, start + step), *place)].astype(np.int64)
        close = np.abs(area - reference) <= tolerance
        if close.ndim == 4:
            close = close.all(axis=3)  # a colour pixel matches in every channel
        matching[start : start + step] = close[:, shape].mean(axis=1) >= SAME
    return matching
