"""A native decoder's own messages stay off the terminal; deid's do not."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate, generate_frames

from deid import native_quiet
from deid.native_quiet import native_messages_dropped
from deid.pixels.frames import decode


def _cut_jpeg2000() -> pydicom.Dataset:
    """A JPEG 2000 codestream cut to a third: GDCM's OpenJPEG prints what it
    finds wrong ("Tile part length ...") to fd 2 before pydicom raises."""
    ds = pydicom.dcmread(get_testdata_file("MR_small_jp2klossless.dcm"))
    (frame,) = generate_frames(ds.PixelData, number_of_frames=1)
    ds.PixelData = encapsulate([frame[: len(frame) // 3]])
    return ds


_DECODE_ALONE = """
import sys
sys.path.insert(0, sys.argv[1])
from tests.test_native_quiet import _cut_jpeg2000
from deid.pixels.frames import decode
try:
    decode(_cut_jpeg2000())
except Exception:
    print("raised")
"""


def test_a_broken_codestream_prints_nothing_of_the_decoders():
    """A process of one thread (a run with -j 1, a library's host)."""
    root = str(Path(__file__).parents[1])
    done = subprocess.run(
        [sys.executable, "-c", _DECODE_ALONE, root], capture_output=True, text=True, timeout=120
    )
    assert done.stdout == "raised\n", done.stderr
    assert done.stderr == ""


def test_a_worker_drops_them_beside_its_own_threads(capfd, monkeypatch):
    """A worker's read-ahead threads print nothing: its fd 2 is pointed
    away whatever else runs (the first version checked for other threads
    everywhere, and a worker with a read-ahead thread printed them)."""
    monkeypatch.setattr(native_quiet, "_in_worker", True)
    with _another_thread(), pytest.raises(Exception):  # noqa: B017 - whatever the plugins say
        decode(_cut_jpeg2000())
    assert capfd.readouterr().err == ""


@contextmanager
def _another_thread() -> Iterator[None]:
    started, release = threading.Event(), threading.Event()
    thread = threading.Thread(target=lambda: (started.set(), release.wait()))
    thread.start()
    started.wait()
    try:
        yield
    finally:
        release.set()
        thread.join()


def test_fd_2_is_left_alone_while_another_thread_runs(capfd, monkeypatch):
    """The descriptor is the process's: pointed away while a progress bar
    or another file's failure line is written, that line would be lost.
    (The test session may hold threads of its own: one thread is made the
    count here, then one more is started.)"""
    monkeypatch.setattr(native_quiet.threading, "active_count", lambda: 1)
    with native_messages_dropped():
        os.write(2, b"a native library's line\n")
    monkeypatch.setattr(native_quiet.threading, "active_count", lambda: 2)
    with native_messages_dropped():
        os.write(2, b"deid's own line\n")
    os.write(2, b"after the block\n")
    assert capfd.readouterr().err == "deid's own line\nafter the block\n"
