"""Thumbnails of redacted areas: what a reviewer checks by eye on report.html.

Each is cut from the OUTPUT's pixels (the redacted frames exactly as they are
stored: redaction re-encodes losslessly) around one redacted area, in the
per-file step, so it shows nothing the shared output does not already hold:
never the input, never a file that was withheld or not written. The worker
makes them (small PNGs in memory); the report writes them next to itself,
only for the files the page lists, and removes the others, so their number
and size are bounded however large the batch: at most PER_FILE pictures of
at most MAX_SIZE pixels for each of views.HTML_FILES files.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydicom.dataset import Dataset

from deid.results import Thumbnail
from deid.writing import atomic_write

if TYPE_CHECKING:
    from deid.pixels.frames import Pixels

FOLDER = "report-thumbnails"  # next to report.html
PER_FILE = 4  # the largest redacted areas of a file
MAX_SIZE = (320, 160)  # width, height: larger crops are scaled down
CONTEXT = 16  # px of the output around the redacted area
_NAME = re.compile(r"^[0-9a-f]{24}\.png$")


def make(ds: Dataset, pixels: Pixels, masks: dict[int, np.ndarray], output: str) -> list[Thumbnail]:
    """Pictures of the largest redacted areas of `pixels` (already redacted).
    An area redacted alike in every frame of a cine loop is shown once."""
    from deid.pixels import frames

    pictures: dict[int, np.ndarray] = {}
    made = []
    for frame, box in _areas(masks):
        if frame not in pictures:
            pictures[frame] = frames.picture(ds, pixels, frame)
        made.append(_thumbnail(pictures[frame], frame, box, output))
    return made


def _areas(masks: dict[int, np.ndarray]) -> list[tuple[int, tuple[int, int, int, int]]]:
    """(frame, box) of the PER_FILE largest distinct redacted areas, in
    reading order: frame, then top to bottom, left to right."""
    from deid.cv import cv2

    first: dict[tuple[int, int, int, int], tuple[int, int]] = {}
    for frame in sorted(masks):
        mask = masks[frame].astype(np.uint8)
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        for i in range(1, count):
            x, y, w, h, area = (int(v) for v in stats[i])
            first.setdefault((x, y, w, h), (area, frame))
    largest = sorted(first.items(), key=lambda item: (-item[1][0], item[1][1], item[0]))
    chosen = [(frame, box) for box, (_, frame) in largest[:PER_FILE]]
    return sorted(chosen, key=lambda fb: (fb[0], fb[1][1], fb[1][0]))


def _thumbnail(
    picture: np.ndarray, frame: int, box: tuple[int, int, int, int], output: str
) -> Thumbnail:
    from deid.cv import cv2

    x, y, w, h = box
    rows, cols = picture.shape[:2]
    left, top = max(0, x - CONTEXT), max(0, y - CONTEXT)
    right, bottom = min(cols, x + w + CONTEXT), min(rows, y + h + CONTEXT)
    crop = (left, top, right - left, bottom - top)
    cut = picture[top:bottom, left:right]
    size = shown_size(crop[2], crop[3])
    if size != crop[2:]:
        cut = cv2.resize(cut, size, interpolation=cv2.INTER_AREA)
    gray = bool((cut[..., 0] == cut[..., 1]).all() and (cut[..., 1] == cut[..., 2]).all())
    encoded = cut[..., 0] if gray else cv2.cvtColor(cut, cv2.COLOR_RGB2BGR)
    ok, png = cv2.imencode(".png", np.ascontiguousarray(encoded))
    if not ok:
        raise ValueError("the PNG encoder refused a thumbnail")
    place = f"{output}\x00{frame}\x00{box}".encode("utf-8", "surrogateescape")
    name = hashlib.sha256(place).hexdigest()[:24] + ".png"
    return Thumbnail(name, frame, crop, box, png.tobytes())


def shown_size(width: int, height: int) -> tuple[int, int]:
    """A crop's size in its thumbnail: scaled down to fit MAX_SIZE, never up."""
    scale = min(1.0, MAX_SIZE[0] / width, MAX_SIZE[1] / height)
    return max(1, round(width * scale)), max(1, round(height * scale))


class Store:
    """The thumbnails next to a report: written as results arrive, removed
    when their file leaves the page's list, and swept of any other when the
    page is written (a run cut short, an earlier report in the same folder)."""

    def __init__(self, report_dir: Path) -> None:
        self.root = report_dir
        self.folder = report_dir / FOLDER

    def put(self, thumbnails: list[Thumbnail]) -> list[dict[str, Any]]:
        """The page's references to a written file's thumbnails. A resumed
        file's come from the journal without pictures: kept if still on disk."""
        refs = []
        for t in thumbnails:
            if not _NAME.match(t.name):
                continue  # a journal edited by hand: never a path of its own
            if t.png:
                atomic_write(self.folder / t.name, t.png, root=self.root)
            elif not (self.folder / t.name).is_file():
                continue
            refs.append(
                {"src": f"{FOLDER}/{t.name}", "frame": t.frame, "crop": t.crop, "box": t.box}
            )
        return refs

    def drop(self, refs: list[dict[str, Any]]) -> None:
        for ref in refs:
            (self.root / ref["src"]).unlink(missing_ok=True)

    def sweep(self, kept: set[str]) -> None:
        """Remove every thumbnail not in `kept` (their `src`); links are not
        followed, and only names this module makes are touched."""
        if self.folder.is_symlink():
            return
        try:
            entries = list(os.scandir(self.folder))
        except (FileNotFoundError, NotADirectoryError):
            return
        for entry in entries:
            if _NAME.match(entry.name) and f"{FOLDER}/{entry.name}" not in kept:
                Path(entry.path).unlink(missing_ok=True)
        if not kept and not any(self.folder.iterdir()):
            self.folder.rmdir()
