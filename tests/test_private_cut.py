"""Private elements cut from the bytes before parsing (deid.private_cut)
leave exactly the data set pydicom reads without them, or the bytes whole:
the outputs must not depend on which path a file took."""

from __future__ import annotations

import struct
import warnings
from io import BytesIO

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, RLELossless

from deid.private_cut import without_private
from tests.conformance import dicom_files, shipped_roots
from tests.test_header_keys import identified, written


def parsed(data: bytes) -> Dataset | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pydicom.dcmread(BytesIO(data))
    except Exception:  # noqa: BLE001 - pydicom cannot read it: nothing to compare
        return None


def public(ds: Dataset) -> list[tuple[int, str | None, object]]:
    """Top-level even-group elements as read (values undecoded)."""
    return [
        (int(tag), ds.get_item(tag).VR, ds.get_item(tag).value)
        for tag in ds.keys()
        if not tag >> 16 & 1
    ]


def private_count(ds: Dataset) -> int:
    return sum(1 for tag in ds.keys() if tag >> 16 & 1)


def check_same(data: bytes) -> int:
    """The cut bytes read as the whole bytes read without top-level private
    elements; the count is theirs. Returns the count."""
    result = without_private(data)
    cut, count = result.data, result.count
    whole = parsed(data)
    if count == 0:
        assert cut is data
        return 0
    assert whole is not None
    assert count == private_count(whole)
    reduced = parsed(cut)
    assert reduced is not None and private_count(reduced) == 0
    assert public(reduced) == public(whole)
    assert reduced.file_meta == whole.file_meta
    return count


def test_every_shipped_file_reads_the_same_without_its_private_elements():
    files = dicom_files(*shipped_roots())
    cut_files = sum(1 for path in files if check_same(path.read_bytes()))
    # Many shipped files carry private blocks and are stepped through.
    assert cut_files >= 20, cut_files


def with_private(syntax: str, undefined: bool = False) -> bytes:
    ds = identified()
    block = ds.private_block(0x0009, "ACME")
    element = block[0x01]
    element.is_undefined_length = undefined
    for item in element.value:
        item.is_undefined_length_sequence_item = undefined
    ds.add_new(0x00291010, "OB", b"\x01\x02" * 40)  # a blob with no creator
    return written(ds, syntax)


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
@pytest.mark.parametrize("undefined", [False, True])
def test_private_sequences_and_blobs_are_cut_in_either_syntax(syntax, undefined):
    data = with_private(syntax, undefined)
    # ACME's creator and sequence, its LO, the 0029 blob.
    assert check_same(data) == 4


def test_private_elements_after_encapsulated_pixel_data_are_cut():
    ds = identified()
    ds.Rows = ds.Columns = 2
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.PixelData = encapsulate([b"\x00\x01\xfe\xff\xdd\xe0\x00\x00"])  # a delimiter inside
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.add_new(0x7FE10010, "LO", "VENDOR")
    ds.add_new(0x7FE11001, "OB", b"\x00" * 16)
    data = written(ds, RLELossless)
    assert check_same(data) == 5  # ACME creator, sequence and LO; 7FE1 creator and blob


@pytest.mark.parametrize(
    "case", ["cut short in a private value", "cut short at the end", "big endian-ish VR"]
)
def test_what_the_walk_cannot_step_over_leaves_the_bytes_whole(case):
    data = with_private(ExplicitVRLittleEndian)
    if case == "cut short in a private value":
        data = data[: data.index(b"\x01\x02" * 40) + 10]
    if case == "cut short at the end":
        data = data[:-3]
    if case == "big endian-ish VR":  # a VR pydicom would have to guess
        at = data.index(b"\x29\x00\x10\x10OB")
        data = data[: at + 4] + b"ZZ" + data[at + 6 :]
    result = without_private(data)
    assert result.data is data and result.count == 0


def test_pixel_data_offsets_are_the_files_after_a_cut(tmp_path):
    """The face step reads frames straight from the file at the offset the
    reader reports: after a cut that offset must still be the file's (it was
    the cut bytes', and every frame fell back to a full decode)."""
    from deid.dicom_io import read, read_without_private
    from deid.face.geometry import pixel_location

    ds = identified()
    ds.Rows = ds.Columns = 4
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.PixelData = bytes(range(32))
    ds.add_new(0xFFFCFFFC, "OB", b"\0" * 8)  # trailing padding: the pixels do not end the file
    path = tmp_path / "slice.dcm"
    path.write_bytes(written(ds, ExplicitVRLittleEndian))
    whole = read(path)
    cut, count = read_without_private(path)
    assert count == 3  # ACME's creator, sequence and LO
    location = pixel_location(cut, 1)
    assert location is not None and location == pixel_location(whole, 1)
    offset, length = location[0], location[1]
    assert path.read_bytes()[offset : offset + length] == bytes(range(32))


# Crafted cases where pydicom reads differently from a plain element walk
# (found by a hostile-input review): the cut must leave such bytes whole.
def _explicit(tag: int, vr: str, value: bytes = b"", length: int | None = None) -> bytes:
    size = len(value) if length is None else length
    if vr in ("OB", "OW", "SQ", "UN", "UT"):
        return struct.pack("<HH2sHI", tag >> 16, tag & 0xFFFF, vr.encode(), 0, size) + value
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr.encode(), size) + value


def _implicit(tag: int, value: bytes = b"", length: int | None = None) -> bytes:
    size = len(value) if length is None else length
    return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, size) + value


UNDEFINED, ITEM, ITEM_END, SEQUENCE_END = 0xFFFFFFFF, 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
IDENTITY = [(0x00080016, "UI", b"1.2.840.10008.5.1.4.1.1.7\0"), (0x00080018, "UI", b"1.2.3.4\0"),
            (0x00100010, "PN", b"DOE^JANE"), (0x0020000D, "UI", b"1.2.3\0")]  # fmt: skip


def _file(body: bytes, implicit: bool = False) -> bytes:
    syntax = (ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian).encode() + b"\0"
    meta = _explicit(0x00020001, "OB", b"\0\1") + _explicit(0x00020010, "UI", syntax)
    group = _explicit(0x00020000, "UL", struct.pack("<I", len(meta)))
    return b"\0" * 128 + b"DICM" + group + meta + body


def _identity(implicit: bool) -> bytes:
    if implicit:
        return b"".join(_implicit(t, v) for t, _, v in IDENTITY)
    return b"".join(_explicit(t, vr, v) for t, vr, v in IDENTITY)


def _nested(levels: int) -> bytes:
    inner = b""
    for _ in range(levels):
        opening = _explicit(0x00091001, "SQ", length=UNDEFINED) + _implicit(ITEM, length=UNDEFINED)
        closing = _implicit(ITEM_END, length=0) + _implicit(SEQUENCE_END, length=0)
        inner = opening + inner + closing
    return inner


CREATOR = _explicit(0x00090010, "LO", b"ACME")
CRAFTED = {
    # Implicit VR whose first element's length reads as "LO": pydicom reads explicit VR.
    "first element looks explicit": _file(
        _implicit(0x00090010, b"\0" * 0x4F4C) + _identity(True), implicit=True
    ),
    # The cut would make an element whose length reads as "AA" the first one.
    "cut exposes an explicit-looking element": _file(
        _implicit(0x00010010, b"ACME") + _implicit(0x00080005, b" " * 0x4141)
        + _identity(True), implicit=True,
    ),  # fmt: skip
    # pydicom would read group 0002 after a cut leading private block into the meta.
    "meta element after a leading private block": _file(
        CREATOR + _explicit(0x00020010, "UI", b"1.2.840.10008.1.2\0") + _identity(False)
    ),
    # An item of length 8 whose element declares 20 bytes: pydicom reads on past it.
    "item contents overrun the item": _file(
        _identity(False) + CREATOR + _explicit(0x00091001, "SQ", length=UNDEFINED)
        + _implicit(ITEM, length=8) + _explicit(0x00091002, "LO", length=20)
        + _implicit(SEQUENCE_END, length=0) + _explicit(0x00200011, "IS", b"12345678"),
    ),  # fmt: skip
    "sequences nested 250 deep": _file(_identity(False) + CREATOR + _nested(250)),
    # Implicit VR, a non-sequence tag of undefined length: pydicom scans for a delimiter.
    "undefined length outside a sequence": _file(
        _identity(True) + _implicit(0x00100020, length=UNDEFINED)
        + _implicit(ITEM, length=UNDEFINED) + _implicit(ITEM_END, length=0)
        + _implicit(SEQUENCE_END, length=0) + _implicit(0x00090010, b"ACME"), implicit=True,
    ),  # fmt: skip
    "a private tag twice": _file(_identity(False) + CREATOR + CREATOR),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_bytes_pydicom_reads_otherwise_are_left_whole(case):
    data = CRAFTED[case]
    result = without_private(data)
    assert result.count == 0 and result.data is data
