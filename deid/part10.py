"""Serialising a data set as a DICOM Part 10 file.

pydicom's writer builds two buffer objects and runs its type dispatch for every
element; at a few hundred elements per CT slice that was a third of deid's time
per file. Most of what deid writes is simple: elements kept undecoded (copied
as read: tag, VR, length, value bytes), decoded values that are ASCII strings,
single integers or bytes, and sequences of items in the file's own encoding
(the items' elements written the same way; pydicom wrote them at about a
millisecond a real CT header). Those are written here; everything else
(person names, numbers as strings, floats, values too long for their VR, data
sets or items whose encoding or character set changes) goes through
pydicom's own element and data set writers. The bytes are pydicom's either way
(tests/test_part10.py compares them with dcmwrite).
"""

from __future__ import annotations

import struct
from functools import lru_cache
from io import BytesIO

import pydicom
from pydicom.charset import convert_encodings, default_encoding
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset, validate_file_meta
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element, write_dataset, write_sequence_item
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import ItemDelimiterTag, ItemTag, SequenceDelimiterTag, tag_in_exception
from pydicom.uid import UID
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32

from deid.elements import in_tag_order

UNDEFINED_LENGTH = 0xFFFFFFFF
# Decoded values written here: strings in these VRs when plain printable ASCII
# (the same bytes in every character set DICOM allows), single integers, bytes.
STRING_VRS = frozenset(
    {"AE", "AS", "CS", "DA", "DT", "LO", "LT", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}
)
INTEGER_FORMATS = {"US": "H", "SS": "h", "UL": "L", "SL": "l"}
BYTES_VRS = frozenset({"OB", "OW"})
# Element headers by byte order: explicit VR with a 2-byte length, with a
# 4-byte length (after two reserved bytes), implicit VR (also items and
# delimiters), and a length alone (an item's, filled in once written).
_HEADERS = {
    order: (
        struct.Struct(order + "HH2sH"),
        struct.Struct(order + "HH2s2xL"),
        struct.Struct(order + "HHL"),
        struct.Struct(order + "L"),
    )
    for order in "<>"
}


def encode(ds: Dataset) -> bytes:
    """Serialise as a Part 10 file: zero preamble, ds.file_meta, then the data
    set in its own transfer syntax. The caller builds the meta; it is checked
    as dcmwrite checks it."""
    ds.preamble = b"\x00" * 128
    ts = UID(ds.file_meta.TransferSyntaxUID)
    if ts == pydicom.uid.DeflatedExplicitVRLittleEndian:
        return _encode_with_dcmwrite(ds, ts)  # rare: dcmwrite deflates
    if any(tag >> 16 in (0x0000, 0x0002) for tag in ds.keys()):
        raise ValueError("command or file meta elements inside the data set")
    fp = DicomBytesIO()
    fp.write(ds.preamble + b"DICM")
    fp.write(_file_meta(ds.file_meta))
    fp.is_implicit_VR, fp.is_little_endian = ts.is_implicit_VR, ts.is_little_endian
    if "PixelData" in ds:
        # PS3.5 A.4: encapsulated pixel data has undefined length, native does not.
        ds["PixelData"].is_undefined_length = ts.is_compressed
    if (ts.is_implicit_VR, ts.is_little_endian) != ds.original_encoding or (
        ds.original_character_set != ds._character_set
    ):
        write_dataset(fp, ds)  # raw values must be re-encoded: pydicom decodes them
    else:
        _write_elements(fp, ds, ds.get("SpecificCharacterSet", default_encoding))
    return fp.getvalue()


def _file_meta(meta: FileMetaDataset) -> bytes:
    """Group 0002 in explicit VR little endian, led by its group length, as
    pydicom's write_file_meta_info writes it."""
    validate_file_meta(meta, enforce_standard=True)
    if 0x00020000 in meta:
        del meta[0x00020000]  # measured again below, written first
    fp = DicomBytesIO()
    fp.is_implicit_VR, fp.is_little_endian = False, True
    _write_elements(fp, meta, default_encoding)
    value = fp.getvalue()
    meta.FileMetaInformationGroupLength = len(value)
    return struct.pack("<HH2sHL", 0x0002, 0x0000, b"UL", 4, len(value)) + value


def _write_elements(fp: DicomBytesIO, ds: Dataset, charset: str | list[str]) -> None:
    """pydicom's write_dataset for a data set already in fp's encoding."""
    implicit = fp.is_implicit_VR
    order = "<" if fp.is_little_endian else ">"
    short_header, long_header, implicit_header, _ = _HEADERS[order]
    write = fp.write
    for tag, elem in in_tag_order(ds):
        if not tag & 0xFFFF and tag >> 16 > 6:
            continue  # retired group lengths are not written (PS3.5 7.2)
        if elem.is_raw and elem.value is None:
            elem = ds[tag]  # read deferred (a large value): get_item reads it so
        elif elem.VR is None and not implicit:
            # Read implicitly (a file whose meta claimed otherwise): decoding
            # gives the element its dictionary VR, which explicit VR needs.
            elem = ds[tag]
        value = _simple_value(elem, order)
        if value is not None:
            vr, size = elem.VR, len(value)
            group, element = tag >> 16, tag & 0xFFFF
            header = None
            if implicit:
                header = implicit_header.pack(group, element, size)
            elif vr in EXPLICIT_VR_LENGTH_32:
                header = long_header.pack(group, element, vr.encode(), size)
            elif vr and len(vr) == 2 and size <= 0xFFFF:
                header = short_header.pack(group, element, vr.encode(), size)
            if header is not None:
                write(header)
                write(value)
                continue
        with tag_in_exception(tag):
            if elem.VR == "SQ" and not elem.is_raw and isinstance(elem.value, Sequence):
                _write_sequence(fp, elem, charset)
            else:
                write_data_element(fp, elem, charset)


def _write_sequence(fp: DicomBytesIO, elem: DataElement, charset: str | list[str]) -> None:
    """pydicom's write_data_element for a decoded sequence: its items in
    this module's writer where they are in the file's encoding."""
    _, long_header, implicit_header, _ = _HEADERS["<" if fp.is_little_endian else ">"]
    value = DicomBytesIO()
    value.is_implicit_VR, value.is_little_endian = fp.is_implicit_VR, fp.is_little_endian
    # As pydicom hands them down: Python codec names, converted once more in
    # each item (which turns a GBK data set's text to "?": pydicom's bytes).
    encodings = _python_encodings(charset)
    for item in elem.value:
        _write_item(value, item, encodings)
    undefined = elem.is_undefined_length
    size = UNDEFINED_LENGTH if undefined else value.tell()
    group, element = elem.tag >> 16, elem.tag & 0xFFFF
    if fp.is_implicit_VR:
        fp.write(implicit_header.pack(group, element, size))
    else:
        fp.write(long_header.pack(group, element, b"SQ", size))
    fp.write(value.getvalue())
    if undefined:
        fp.write(implicit_header.pack(*_split(SequenceDelimiterTag), 0))


def _python_encodings(charset: str | list[str] | None) -> list[str]:
    """pydicom's convert_encodings, once per character set a worker meets
    (it was asked again for every sequence of every file)."""
    if not charset:
        terms: tuple[str, ...] = (default_encoding,)
    elif isinstance(charset, str):
        terms = (charset,)
    else:
        terms = tuple(charset)
    return list(_converted(terms))


@lru_cache(maxsize=64)
def _converted(terms: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(convert_encodings(list(terms)))


def _write_item(fp: DicomBytesIO, item: Dataset, charset: str | list[str]) -> None:
    """pydicom's write_sequence_item; an item read in another encoding or
    character set (or made by deid: no encoding read) is left to pydicom,
    which resolves ambiguous VRs and re-encodes its text."""
    encoding = (fp.is_implicit_VR, fp.is_little_endian)
    if encoding != item.original_encoding or item.original_character_set != item._character_set:
        write_sequence_item(fp, item, charset)  # type: ignore[arg-type]
        return
    _, _, implicit_header, length = _HEADERS["<" if fp.is_little_endian else ">"]
    start = fp.tell()
    fp.write(implicit_header.pack(*_split(ItemTag), UNDEFINED_LENGTH))
    _write_elements(fp, item, item.get("SpecificCharacterSet", charset))
    if getattr(item, "is_undefined_length_sequence_item", False):
        fp.write(implicit_header.pack(*_split(ItemDelimiterTag), 0))
        return
    end = fp.tell()
    fp.seek(start + 4)
    fp.write(length.pack(end - start - 8))
    fp.seek(end)


def _split(tag: int) -> tuple[int, int]:
    return tag >> 16, tag & 0xFFFF


def _simple_value(elem: DataElement | RawDataElement, order: str) -> bytes | None:
    """The value bytes of an element this module writes, or None for pydicom.
    Raw values are written as read; decoded ones padded to even length as
    pydicom pads them (odd-length bytes are left to pydicom: rare, and padding
    them here would copy the pixel data)."""
    value = elem.value
    if elem.is_raw:
        if isinstance(value, bytes) and elem.length != UNDEFINED_LENGTH:
            return value
        return None
    if elem.is_undefined_length:
        return None
    vr = elem.VR
    if vr in STRING_VRS:
        if isinstance(value, str):
            text = value
        elif isinstance(value, MultiValue) and value and all(isinstance(v, str) for v in value):
            text = "\\".join(value)
        else:
            return None
        if not (text.isascii() and text.isprintable()):
            return None
        if len(text) % 2:
            text += "\0" if vr == "UI" else " "
        return text.encode("ascii")
    if vr in INTEGER_FORMATS and type(value) is int:
        try:
            return struct.pack(order + INTEGER_FORMATS[vr], value)
        except struct.error:
            return None  # out of range: pydicom's writer says so
    if vr in BYTES_VRS and isinstance(value, bytes) and len(value) % 2 == 0:
        return value
    return None


def _encode_with_dcmwrite(ds: Dataset, ts: UID) -> bytes:
    buf = BytesIO()
    ds.save_as(
        buf,
        enforce_file_format=True,
        implicit_vr=ts.is_implicit_VR,
        little_endian=ts.is_little_endian,
    )
    return buf.getvalue()
