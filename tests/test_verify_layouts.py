"""Verification's values pass on byte layouts built by hand.

The values pass (deid.risk.verify._values_clear) reads each value from the
output's bytes instead of parsing the file. It may clear a file only where
the parse would find nothing: each layout here was found by a review's
fuzzing where it cleared a file the parse stops (or raised where the parse
reads the file), and must now be left to the parse or found.
"""

from __future__ import annotations

import struct
import warnings
import zlib

import pytest

from deid.risk import verify as verify_module
from deid.risk.verify import verify
from tests.test_verify import identifiers, parse_always

EXPLICIT, DEFLATED = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.1.99"
UNDEFINED = 0xFFFFFFFF
ITEM, ITEM_END, SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
LONG = {b"OB", b"OW", b"SQ", b"UN", b"UT", b"UC", b"UR"}


def tag(number: int) -> bytes:
    return struct.pack("<HH", number >> 16, number & 0xFFFF)


def el(number: int, vr: bytes, value: bytes) -> bytes:
    """An explicit VR little endian element, padded to even length."""
    if len(value) % 2:
        value += b"\0" if vr in (b"UI", b"OB") else b" "
    if vr in LONG:
        return tag(number) + vr + b"\0\0" + struct.pack("<I", len(value)) + value
    return tag(number) + vr + struct.pack("<H", len(value)) + value


def item(body: bytes, defined: bool = True) -> bytes:
    if defined:
        return tag(ITEM) + struct.pack("<I", len(body)) + body
    return tag(ITEM) + struct.pack("<I", UNDEFINED) + body + tag(ITEM_END) + b"\0\0\0\0"


def seq(number: int, items: list[bytes], defined: bool = True) -> bytes:
    body = b"".join(items)
    if defined:
        return el(number, b"SQ", body)
    end = tag(SEQUENCE_END) + b"\0\0\0\0"
    return tag(number) + b"SQ\0\0" + struct.pack("<I", UNDEFINED) + body + end


def part10(data_set: bytes, syntax: str = EXPLICIT, meta_extra: bytes = b"") -> bytes:
    if syntax == DEFLATED:
        packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
        data_set = packer.compress(data_set) + packer.flush()
    body = (
        el(0x00020001, b"OB", b"\0\1")
        + el(0x00020002, b"UI", b"1.2.840.10008.5.1.4.1.1.7")
        + el(0x00020003, b"UI", b"1.2.3.4")
        + el(0x00020010, b"UI", syntax.encode())
        + el(0x00020012, b"UI", b"1.2.826.0.1.3680043.9.1")
        + meta_extra
    )
    length = el(0x00020000, b"UL", struct.pack("<I", len(body)))
    return b"\0" * 128 + b"DICM" + length + body + data_set


def _item_end_read_as_a_long_vr() -> bytes:
    # pydicom reads an item delimiter through an explicit VR header: "OB"
    # after its tag makes it 12 bytes long, and the two walks part there.
    value_length = 0x00005455  # reads "UT\0\0": pydicom's VR and reserved bytes
    text = (b"ref. QX-5521 " + b" " * value_length)[: value_length - 4]
    return part10(
        tag(0x00081140) + b"SQ\0\0" + struct.pack("<I", UNDEFINED)
        + tag(ITEM) + struct.pack("<I", UNDEFINED)
        + el(0x00081150, b"UI", b"1.2")
        + tag(ITEM_END) + b"OB\0\0"
        + tag(SEQUENCE_END) + tag(SEQUENCE_END)
        + b"\x09\x00\x00\x10" + b"OW" + b"\x00\x10"
        + struct.pack("<I", value_length) + struct.pack("<I", value_length - 4) + text
    )  # fmt: skip


WEISS_UTF8 = "Weiß".encode()
LAYOUTS = {
    "an undefined-length sequence before (0008,0005)": lambda: part10(
        seq(0x00081140, [item(el(0x00101060, b"PN", b"Hans Wei\xdf"), False)], False)
        + el(0x00080005, b"CS", b"ISO_IR 144")
    ),
    "(0008,0005) written as AE": lambda: part10(
        el(0x00080005, b"AE", b" ISO_IR 192") + el(0x00101060, b"PN", WEISS_UTF8)
    ),
    "(0008,0005) written as LT": lambda: part10(
        el(0x00080005, b"LT", b"ISO_IR 192\\") + el(0x00101060, b"PN", b"Wei\xdf")
    ),
    "an item delimiter read as a long VR": _item_end_read_as_a_long_vr,
    "a deflated data set led by (0002,0013)": lambda: part10(
        el(0x00020013, b"SH", b"QX-5521") + el(0x00081030, b"LO", b"Bone scan"), DEFLATED
    ),
    "(0002,0013) in an item of a meta sequence": lambda: part10(
        el(0x00081030, b"LO", b"Bone scan"),
        meta_extra=seq(0x00020099, [item(el(0x00020013, b"SH", b"QX-5521"))]),
    ),
    "(0008,0005) in an item of a meta sequence": lambda: part10(
        el(0x00081030, b"LO", b"Bone scan"),
        meta_extra=seq(
            0x00020099,
            [item(el(0x00080005, b"CS", b"ISO_IR 192") + el(0x00101060, b"PN", WEISS_UTF8))],
        ),
    ),
}


def _full(data: bytes) -> list:
    with pytest.MonkeyPatch.context() as mp:
        parse_always(mp)
        return verify(data, identifiers(), "f")


@pytest.mark.parametrize("layout", list(LAYOUTS))
def test_the_values_pass_clears_no_layout_the_parse_stops(layout):
    data = LAYOUTS[layout]()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = _full(data)
        assert full, "the layout must carry a value the parse stops"
        searched = verify_module._data_set(data)
        walked = verify_module._walk(searched)
        assert not verify_module._values_clear(searched, identifiers().terms(), walked)
        assert verify(data, identifiers(), "f")


@pytest.mark.parametrize("tail", [b"\0", b"\0\0", b"\0\0\0"])
def test_bytes_after_the_last_element_are_left_to_the_parse(tail):
    # pydicom stops where fewer than 8 bytes are left; the walk raised.
    data = part10(el(0x00081030, b"LO", b"hanseatic") + tail)
    assert verify(data, identifiers(), "f") == _full(data) == []
