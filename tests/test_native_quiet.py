"""A native decoder's own messages stay off the terminal; deid's do not."""

from __future__ import annotations

import os
import threading

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate, generate_frames

from deid.native_quiet import native_messages_dropped
from deid.pixels.frames import decode


def _cut_jpeg2000() -> pydicom.Dataset:
    """A JPEG 2000 codestream cut to a third: GDCM's OpenJPEG prints what it
    finds wrong ("Tile part length ...") to fd 2 before pydicom raises."""
    ds = pydicom.dcmread(get_testdata_file("MR_small_jp2klossless.dcm"))
    (frame,) = generate_frames(ds.PixelData, number_of_frames=1)
    ds.PixelData = encapsulate([frame[: len(frame) // 3]])
    return ds


def test_a_broken_codestream_prints_nothing_of_the_decoders(capfd):
    with pytest.raises(Exception):  # noqa: B017 - pydicom's, whatever the plugins say
        decode(_cut_jpeg2000())
    assert capfd.readouterr().err == ""


def test_fd_2_is_left_alone_while_another_thread_runs(capfd):
    """The descriptor is the process's: pointed away while a progress bar
    or another file's failure line is written, that line would be lost."""
    started, release = threading.Event(), threading.Event()
    thread = threading.Thread(target=lambda: (started.set(), release.wait()))
    thread.start()
    started.wait()
    try:
        with native_messages_dropped():
            os.write(2, b"deid's own line\n")
    finally:
        release.set()
        thread.join()
    with native_messages_dropped():
        os.write(2, b"a native library's line\n")
    os.write(2, b"after the block\n")
    assert capfd.readouterr().err == "deid's own line\nafter the block\n"
