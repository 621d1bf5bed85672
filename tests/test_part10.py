"""Outputs are written by deid/part10.py, not dcmwrite: same bytes as pydicom."""

from __future__ import annotations

import copy
from datetime import date
from io import BytesIO
from pathlib import Path

import pydicom
import pytest

from deid import dicom_io, part10
from deid.apply import FileContext
from deid.markers import clean_file_meta

TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"


@pytest.mark.parametrize(
    "name",
    [
        "CT_small.dcm",  # explicit VR little endian
        "MR_small_implicit.dcm",
        "MR_small_bigendian.dcm",
        "image_dfl.dcm",  # deflated
        "JPEG2000.dcm",  # encapsulated pixel data
        "rtplan.dcm",  # nested sequences
        "liver_1frame.dcm",  # functional groups: sequences and items of undefined length
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
        _add_items(ds)
    ts = dicom_io.transfer_syntax(ds)
    ds.file_meta = clean_file_meta(ds, ts, FileContext("", "", 0, date(2000, 1, 1), None, None))
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


def _add_items(ds: pydicom.Dataset) -> None:
    """Items as a scrub leaves them: one made by deid (no encoding read: its
    ambiguous VR is resolved on writing), one with a character set of its
    own, one of undefined length, inside an existing sequence or a new one."""
    made = pydicom.Dataset()
    made.CodeValue, made.CodeMeaning = "121", "Zürich"
    made.add_new(0x00280106, "US or SS", 5)  # SmallestImagePixelValue
    made.PixelRepresentation = 0
    own = pydicom.Dataset()
    own.SpecificCharacterSet = "ISO_IR 192"
    own.PersonName = "Ærø^Ö"
    own.ContentSequence = pydicom.Sequence([made])
    own.ContentSequence.is_undefined_length = True
    own.is_undefined_length_sequence_item = True
    sequences = [e for e in ds.iterall() if e.VR == "SQ" and e.value]
    target = sequences[-1].value if sequences else None
    if target is not None:
        target.append(own)
    ds.ReferencedImageSequence = pydicom.Sequence([made, own])


def test_encode_refuses_meta_elements_inside_the_data_set():
    ds = dicom_io.read(TEST_FILES / "CT_small.dcm")
    ds.add_new(0x00020016, "AE", "SENDER")  # would carry the sender into the output
    with pytest.raises(ValueError):
        part10.encode(ds)


def test_an_item_read_with_its_own_character_set_keeps_it():
    """An item may declare its own character set (PS3.5 6.1.2.5.5): its text,
    decoded and written again, is encoded in the item's set, not the data
    set's (Latin-1 and UTF-8 write "Ærø" differently)."""
    ds = pydicom.Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.7", "1.2.3.4"
    ds.PatientName = "Ærø^Top"
    item = pydicom.Dataset()
    item.SpecificCharacterSet = "ISO_IR 192"
    item.PersonName = "Ærø^Item"
    ds.ContentSequence = pydicom.Sequence([item])
    read = _read_back(ds)
    assert str(read.ContentSequence[0].PersonName) == "Ærø^Item"  # decoded, as a scrub reads it
    assert "Ærø^Item".encode() in _written_as_pydicom_writes(read)


def test_items_get_the_character_sets_as_pydicom_hands_them_down():
    # pydicom passes items its codec names, not the data set's terms, and
    # converts them again there: a GBK data set's new item text is written
    # as "?" by pydicom, and deid wrote it in GBK (a review).
    ds = pydicom.Dataset()
    ds.SpecificCharacterSet = ["", "ISO 2022 GBK"]
    ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.7", "1.2.3.4"
    item = pydicom.Dataset()
    item.add_new(0x00080104, "LO", "中文".encode("gbk"))
    ds.ContentSequence = pydicom.Sequence([item])
    read = _read_back(ds)
    read.ContentSequence[0].CodeMeaning = "中文"
    _written_as_pydicom_writes(read)


def _read_back(ds: pydicom.Dataset) -> pydicom.Dataset:
    """The data set as read from a file (items with the encoding read)."""
    buffer = BytesIO()
    ds.save_as(buffer, implicit_vr=False, little_endian=True)
    return pydicom.dcmread(BytesIO(buffer.getvalue()), force=True)


def _written_as_pydicom_writes(ds: pydicom.Dataset) -> bytes:
    """deid's encoding of `ds` (explicit VR little endian), checked against dcmwrite's."""
    ts = pydicom.uid.ExplicitVRLittleEndian
    ds.file_meta = clean_file_meta(ds, ts, FileContext("", "", 0, date(2000, 1, 1), None, None))
    written = part10.encode(copy.deepcopy(ds))
    expected = BytesIO()
    ds.preamble = b"\x00" * 128
    ds.save_as(expected, enforce_file_format=True, implicit_vr=False, little_endian=True)
    assert written == expected.getvalue()
    return written
