"""OpenCV, with its own thread pool off while deid runs.

deid forks worker processes from a main process that also runs OpenCV
(samples of a series, the face check). An OpenCV pool thread in the main
process can hold the pool's lock at the moment of a fork; the worker then
waits on that lock forever in its first OpenCV call (seen: a scan whose
workers were forked after in-process examinations hung). deid's own
processes and threads already use every core, so the pool only
oversubscribed them. Every module takes cv2 from here; the pool is off
within deid.host_state's block and as the host had it outside.
"""

from __future__ import annotations

import cv2

from deid import host_state

host_state.opencv_loaded(cv2)

__all__ = ["cv2"]
