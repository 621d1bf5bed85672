from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pydicom
import pytest

from deid import dicom_io
from deid.dicom_io import atomic_write, discover, sniff

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

    def boom(src, dst, **where):
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


@pytest.mark.parametrize("hard_links", [True, False])
def test_exclusive_write_never_replaces_a_file(tmp_path, monkeypatch, hard_links):
    """Two inputs may name the same output (a duplicate SOP Instance UID); the
    second must fail, not replace the first, even when both are written at once."""
    if not hard_links:  # some network and FAT file systems

        def no_link(src, dst, **where):
            raise OSError(errno.EPERM, "Operation not permitted")

        monkeypatch.setattr(dicom_io.os, "link", no_link)
    target = tmp_path / "out" / "x.dcm"
    atomic_write(target, b"first", exclusive=True)
    with pytest.raises(FileExistsError):
        atomic_write(target, b"second", exclusive=True)
    assert target.read_bytes() == b"first"
    assert [p.name for p in target.parent.iterdir()] == ["x.dcm"]
    atomic_write(target, b"resumed")  # not exclusive: a resumed file replaces its own
    assert target.read_bytes() == b"resumed"


def test_a_data_set_of_private_elements_only_says_so():
    """pydicom's priv_SQ.dcm holds one private block; removed unparsed, it
    left nothing, and the reason said no element could be read at all."""
    from pydicom.data import get_testdata_file

    path = Path(get_testdata_file("priv_SQ.dcm"))
    with pytest.raises(dicom_io.InputFileError, match=r"but 2 private element\(s\)"):
        dicom_io.read_without_private(path)
    assert len(dicom_io.read(path)) == 2  # read whole, the two are there


def test_another_threads_delimiter_warning_does_not_fail_a_whole_file(monkeypatch) -> None:
    """Warnings are recorded process-wide: a warning another thread's cut
    file raised, met while this file was read, must not fail it."""
    import warnings as _warnings

    from pydicom.data import get_testdata_file

    from deid import dicom_io

    real = dicom_io.pydicom.dcmread

    def reading_beside_a_cut_file(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        _warnings.warn("End of file reached before delimiter (FFFE,E0DD) found", stacklevel=1)
        return real(*args, **kwargs)

    monkeypatch.setattr(dicom_io.pydicom, "dcmread", reading_beside_a_cut_file)
    ds = dicom_io.read(Path(get_testdata_file("CT_small.dcm")))
    assert "PixelData" in ds
