from __future__ import annotations

import copy
import os
import threading
from datetime import date
from io import BytesIO
from pathlib import Path

import pydicom
import pytest

from deid import dicom_io, part10
from deid.dicom_io import atomic_write, discover, sniff
from deid.scrub import FileContext, clean_file_meta

TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"


def test_sniff_by_content_not_extension(tmp_path):
    part10 = tmp_path / "image.txt"
    part10.write_bytes((TEST_FILES / "CT_small.dcm").read_bytes())
    assert sniff(part10) == "part10"
    headerless = tmp_path / "IMG"
    headerless.write_bytes((TEST_FILES / "ExplVR_LitEndNoMeta.dcm").read_bytes())
    assert sniff(headerless) == "raw"
    text = tmp_path / "scan.dcm"
    text.write_text("not an image")
    assert sniff(text) == ""


def test_symlink_loops_are_walked_once(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "f.dcm").write_bytes(b"x")
    os.symlink(tmp_path, tmp_path / "a" / "loop")
    found = [d.path.name for d in discover([tmp_path]) if not d.problem]
    assert found == ["f.dcm"]


def test_unreadable_folder_is_reported(tmp_path, monkeypatch):
    bad = tmp_path / "locked"
    bad.mkdir()
    real = os.scandir

    def scandir(path):
        if Path(path) == bad:
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(dicom_io.os, "scandir", scandir)
    problems = [d for d in discover([tmp_path]) if d.problem]
    assert len(problems) == 1 and problems[0].path == bad
    assert "cannot read folder: Permission denied" in problems[0].problem


def test_atomic_write_leaves_nothing_behind_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "out" / "x.dcm"

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(dicom_io.os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write(target, b"data")
    assert list(target.parent.iterdir()) == []


def test_prefetch_reads_ahead_and_never_blocks(tmp_path, monkeypatch):
    """Read-ahead is advice given by the process that queues work: a FIFO, a
    vanished file or an unreadable one must neither block nor stop it."""
    regular = tmp_path / "a.dcm"
    regular.write_bytes(b"x" * 4096)
    fifo = tmp_path / "pipe.dcm"
    os.mkfifo(fifo)
    gone = tmp_path / "gone.dcm"
    worker = threading.Thread(
        target=dicom_io.prefetch, args=([str(fifo), str(gone), str(regular)],), daemon=True
    )
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "opening a FIFO to advise it blocked"

    advised = []
    real = os.posix_fadvise

    def record(fd, offset, length, advice):
        advised.append((os.fstat(fd).st_ino, advice))
        return real(fd, offset, length, advice)

    monkeypatch.setattr(os, "posix_fadvise", record)
    dicom_io.prefetch([str(gone), str(regular)])
    assert advised == [(regular.stat().st_ino, os.POSIX_FADV_WILLNEED)]


@pytest.mark.parametrize(
    "name",
    [
        "CT_small.dcm",  # explicit VR little endian
        "MR_small_implicit.dcm",
        "MR_small_bigendian.dcm",
        "image_dfl.dcm",  # deflated
        "JPEG2000.dcm",  # encapsulated pixel data
        "rtplan.dcm",  # nested sequences
        "../charset_files/chrH31.dcm",  # Japanese, ISO 2022 escapes
        "../charset_files/chrGerm.dcm:ISO_IR 192",  # character set changed: re-encoded
        "../charset_files/chrX1.dcm",  # UTF-8
    ],
)
@pytest.mark.parametrize("decoded", [False, True], ids=["as read", "decoded and edited"])
def test_encode_writes_what_dcmwrite_writes(name, decoded):
    """deid writes elements itself where it can (undecoded ones as read; ASCII
    strings, integers, bytes); the bytes must stay those pydicom writes: a
    standard Part 10 file in the data set's encoding."""
    name, _, charset = name.partition(":")
    ds = dicom_io.read(TEST_FILES / name)
    if charset:
        ds.SpecificCharacterSet = charset
    if decoded:  # as after a scrub: values decoded, some replaced by odd-length ones
        for elem in ds.iterall():
            if elem.VR in ("LO", "SH", "CS", "UI") and elem.VM == 1 and elem.tag != 0x00080005:
                elem.value = str(elem.value)[:-1] or "X"
        block = ds.private_block(0x0009, "DEID TEST", create=True)
        block.add_new(0x01, "OB", b"\x01\x02\x03")  # odd-length bytes: padded
        block.add_new(0x02, "LO", "Ærø\\Zürich")  # not ASCII: charset-encoded
        block.add_new(0x03, "US", [1, 2, 3])
        block.add_new(0x04, "LT", "two\r\nlines")
    ts = dicom_io.transfer_syntax(ds)
    ds.file_meta = clean_file_meta(ds, ts, FileContext("", "", 0, date(2000, 1, 1), None))
    written = part10.encode(copy.deepcopy(ds))  # writing may decode elements in place
    expected = BytesIO()
    ds.preamble = b"\x00" * 128
    ds.save_as(
        expected,
        enforce_file_format=True,
        implicit_vr=ts.is_implicit_VR,
        little_endian=ts.is_little_endian,
    )
    assert written == expected.getvalue()


def test_encode_refuses_meta_elements_inside_the_data_set():
    ds = dicom_io.read(TEST_FILES / "CT_small.dcm")
    ds.add_new(0x00020016, "AE", "SENDER")  # would carry the sender into the output
    with pytest.raises(ValueError):
        part10.encode(ds)
