"""Face detectors on the render, each detection confirmed by facial relief.

OpenCV's frontal-face Haar cascades were made for photographs; on a render
they also fire on cut planes and on the backs of skulls, so a detection
counts only where the depth map shows a face's relief inside its box.
"""

from __future__ import annotations

import os
import threading

import numpy as np

from deid.cv import cv2
from deid.face.relief import Relief, confirm
from deid.face.thresholds import Thresholds

CASCADES = (
    "haarcascade_frontalface_default.xml",
    "haarcascade_frontalface_alt.xml",
    "haarcascade_frontalface_alt2.xml",
)


# Series are judged in several threads at once; OpenCV's classifiers are
# not documented as safe to share, so each thread loads its own.
_LOCAL = threading.local()


def _cascades() -> tuple[cv2.CascadeClassifier, ...]:
    cascades = getattr(_LOCAL, "cascades", None)
    if cascades is None:
        folder = cv2.data.haarcascades
        cascades = _LOCAL.cascades = tuple(
            cv2.CascadeClassifier(os.path.join(folder, n)) for n in CASCADES
        )
    return cascades


def detect(image: np.ndarray, relief: Relief, t: Thresholds) -> tuple[list, list]:
    """Cascade boxes, and those with a nose and two eye hollows inside."""
    size = int(t.min_face_mm / t.render_mm)
    equalised = cv2.equalizeHist(image)
    found: list[tuple[int, int, int, int]] = []
    for cascade in _cascades():
        boxes = cascade.detectMultiScale(equalised, t.cascade_scale, 3, minSize=(size, size))
        found += [tuple(int(v) for v in box) for box in boxes]  # type: ignore[misc]
    confirmed = []
    for box in found:
        shown = confirm(box, relief, t)
        if shown is not None:
            confirmed.append((*box, shown))
    return found, confirmed
