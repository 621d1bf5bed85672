"""Stepping over the elements of a Part 10 file's bytes, without pydicom.

Two places need to know where elements are without what they hold: the main
process reads a few UIDs from every header (deid.header_keys), and a worker
cuts private blocks out before parsing when the profile removes all of them
(deid.private_cut). Both answer only where they step exactly as pydicom
reads: uncompressed little-endian data sets after a Part 10 meta group. For
anything else (big endian, deflated, an element whose length or VR pydicom
would have to guess, a header cut short) they raise CannotTell, and the
caller asks pydicom.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Generator, Iterator

PREAMBLE = 128
UNDEFINED = 0xFFFFFFFF
ITEM, ITEM_END, SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
TRANSFER_SYNTAX = 0x00020010
IMPLICIT_LE = "1.2.840.10008.1.2"
NOT_WALKED = ("1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99")  # big endian, deflated
LONG_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
SHORT_VRS = frozenset(
    {b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT",
     b"PN", b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US"}
)  # fmt: skip
# Control characters, non-ASCII, "\\" (several values), "=" (name groups).
_NOT_PLAIN = re.compile(rb"[^\x20-\x3c\x3e-\x5b\x5d-\x7e]")
TEXT_VRS = frozenset({b"AE", b"CS", b"DA", b"LO", b"PN", b"SH", b"UI"})
_U16, _U32, _TAG = struct.Struct("<H"), struct.Struct("<I"), struct.Struct("<HH")


class CannotTell(Exception):
    """The walk cannot answer as pydicom would: the caller asks pydicom."""


def data_set_start(data: bytes) -> tuple[int, bool]:
    """Where the data set starts after the meta group, and whether it is
    implicit VR; CannotTell for syntaxes the walk does not step through,
    and where pydicom would read the data set in the other VR encoding."""
    if data[PREAMBLE : PREAMBLE + 4] != b"DICM":
        raise CannotTell
    pos, syntax = meta(data, PREAMBLE + 4)
    if syntax in NOT_WALKED:
        raise CannotTell
    implicit = syntax == IMPLICIT_LE
    if looks_explicit(data, pos) == implicit:
        raise CannotTell
    return pos, implicit


def looks_explicit(data: bytes, pos: int) -> bool:
    """pydicom's test of a data set's first element: are the two bytes after
    its tag a VR (capital letters)? It reads the data set as that says,
    whatever the transfer syntax."""
    vr = data[pos + 4 : pos + 6]
    return len(vr) == 2 and 0x40 < vr[0] < 0x5B and 0x40 < vr[1] < 0x5B


def meta(head: bytes, pos: int) -> tuple[int, str]:
    """Past the file meta group (always explicit little endian), and its
    transfer syntax."""
    syntax = ""
    while pos + 8 <= len(head) and _U16.unpack_from(head, pos)[0] == 0x0002:
        tag, vr, length, start = element(head, pos, implicit=False)
        if length == UNDEFINED:
            raise CannotTell
        if tag == TRANSFER_SYNTAX:
            syntax = text(head[start : start + length], vr)
        pos = start + length
    if not syntax:
        raise CannotTell
    return pos, syntax


def element(head: bytes, pos: int, implicit: bool) -> tuple[int, bytes, int, int]:
    """(tag, VR as written or b"" when implicit, value length, where the value starts)."""
    if pos + 8 > len(head):
        raise CannotTell
    tag = _tag_at(head, pos)
    if implicit or tag >> 16 == 0xFFFE:
        return tag, b"", _U32.unpack_from(head, pos + 4)[0], pos + 8
    vr = head[pos + 4 : pos + 6]
    if vr in SHORT_VRS:
        return tag, vr, _U16.unpack_from(head, pos + 6)[0], pos + 8
    if vr in LONG_VRS and pos + 12 <= len(head):
        length = _U32.unpack_from(head, pos + 8)[0]
        if length == UNDEFINED and vr != b"SQ":
            raise CannotTell  # an undefined-length UN or encapsulated value
        return tag, vr, length, pos + 12
    raise CannotTell  # not an explicit VR pydicom would read without guessing


# Sequences nested deeper than this are left to pydicom (which gives up,
# somewhat deeper, with a RecursionError: the walk must not read them instead).
MAX_DEPTH = 32


def past_undefined(head: bytes, tag: int, start: int, implicit: bool, depth: int = 0) -> int:
    """Past an undefined-length value, where pydicom would read it as a
    sequence; CannotTell where it would scan for a delimiter instead."""
    if implicit and not _implicit_sequence(head, tag, start):
        raise CannotTell
    return skip_sequence(head, start, implicit, depth)


def _implicit_sequence(head: bytes, tag: int, start: int) -> bool:
    """pydicom's choice for an undefined length in implicit VR: the
    dictionary's VR, or, for a tag it does not know, an item next."""
    from pydicom.datadict import dictionary_VR

    try:
        return dictionary_VR(tag) == "SQ"
    except KeyError:
        return start + 4 <= len(head) and _tag_at(head, start) == ITEM


def _tag_at(head: bytes, pos: int) -> int:
    group, elem = _TAG.unpack_from(head, pos)
    return group << 16 | elem


def skip_sequence(head: bytes, pos: int, implicit: bool, depth: int = 0) -> int:
    """Past an undefined-length sequence's items and its delimiter, as
    pydicom reads them."""
    if depth > MAX_DEPTH:
        raise CannotTell
    while True:
        tag, _, length, start = element(head, pos, implicit=True)
        if tag == SEQUENCE_END:
            return start
        if tag != ITEM:
            raise CannotTell
        if length == UNDEFINED:
            pos = _skip_item(head, start, implicit, depth)
        else:
            pos = _walk_item(head, start, start + length, implicit, depth)


def _walk_item(head: bytes, pos: int, end: int, implicit: bool, depth: int) -> int:
    """A defined-length item. pydicom reads its elements until it has read at
    least its length: where they do not end exactly there, it goes on from
    elsewhere than the item's end."""
    while pos < end:
        pos = _past_element(head, pos, implicit, depth)
    if pos != end:
        raise CannotTell
    return pos


def _skip_item(head: bytes, pos: int, implicit: bool, depth: int) -> int:
    """Past an undefined-length item's elements and its delimiter."""
    while True:
        if pos + 8 <= len(head) and _tag_at(head, pos) == ITEM_END:
            return item_end(head, pos, implicit)
        pos = _past_element(head, pos, implicit, depth)


def item_end(data: bytes, pos: int, implicit: bool) -> int:
    """Past an item delimiter. In explicit VR pydicom reads the two bytes
    after its tag as a VR: where they read as one with a 4-byte length, it
    steps 12 bytes, not 8. Only a zero length is stepped over here."""
    if not implicit and data[pos + 4 : pos + 8] != b"\0\0\0\0":
        raise CannotTell
    return pos + 8


def _past_element(head: bytes, pos: int, implicit: bool, depth: int) -> int:
    """Past one element inside an item (a delimiter there ends pydicom's read
    of the item wherever it is: left to pydicom)."""
    tag, _, length, start = element(head, pos, implicit)
    if tag >> 16 == 0xFFFE:
        raise CannotTell
    if length != UNDEFINED:
        return start + length
    return past_undefined(head, tag, start, implicit, depth + 1)


def text(raw: bytes, vr: bytes) -> str:
    """A value as pydicom's str() reads it (trailing padding dropped), when
    that is certain: a string VR whose str() is the text itself, printable
    ASCII, one value, no "=" (a person name's empty groups are dropped)."""
    if vr and vr not in TEXT_VRS:
        raise CannotTell  # a number or bytes: pydicom shows them otherwise
    raw = raw.rstrip(b"\x00 ")
    if _NOT_PLAIN.search(raw):
        raise CannotTell
    return raw.decode("ascii").strip()


def skip_fragments(data: bytes, pos: int) -> int:
    """Past encapsulated pixel data as pydicom first reads it: items of
    defined length up to the sequence delimiter (pydicom falls back to a
    byte search where that fails, and so does this walk: CannotTell)."""
    while True:
        tag, _, length, start = element(data, pos, implicit=True)
        if tag == SEQUENCE_END:
            return start
        if tag != ITEM:
            raise CannotTell
        pos = start + length


PIXEL_DATA = 0x7FE00010
Value = tuple[int, bytes, int, int, int]  # tag, VR, value start, length, depth


def every_value(data: bytes, pos: int, end: int, depth: int = 0) -> Iterator[Value]:
    """Every element of an explicit-VR little-endian data set from `pos` to
    `end`, at every depth (a sequence's items' elements follow it), with its
    value's place; encapsulated pixel data is stepped over. CannotTell where
    pydicom might read the bytes otherwise (a delimiter out of place, an
    element running past its item, other undefined lengths)."""
    while pos < end:
        pos = yield from _element_values(data, pos, depth)
    if pos != end:
        raise CannotTell


def _element_values(data: bytes, pos: int, depth: int) -> Generator[Value, None, int]:
    """One element (a sequence: its items' elements); returns where it ends."""
    if pos + 8 > len(data):
        raise CannotTell  # bytes left over: pydicom stops, this walk cannot say
    if (
        _tag_at(data, pos) == PIXEL_DATA
        and data[pos + 4 : pos + 6] in (b"OB", b"OW")
        and data[pos + 8 : pos + 12] == b"\xff\xff\xff\xff"
    ):
        return skip_fragments(data, pos + 12)
    tag, vr, length, start = element(data, pos, implicit=False)
    if tag >> 16 == 0xFFFE:
        raise CannotTell
    if vr == b"SQ":
        return (yield from _items(data, start, length, depth + 1))
    if start + length > len(data):
        raise CannotTell
    yield tag, vr, start, length, depth
    return start + length


def _items(data: bytes, pos: int, length: int, depth: int) -> Generator[Value, None, int]:
    """A sequence's items' elements; returns where the sequence ends."""
    if depth > MAX_DEPTH:
        raise CannotTell
    end = len(data) if length == UNDEFINED else pos + length
    while pos < end:
        tag, _, size, start = element(data, pos, implicit=True)
        if tag == SEQUENCE_END and length == UNDEFINED:
            return start
        if tag != ITEM:
            raise CannotTell
        if size == UNDEFINED:
            pos = start
            while not (pos + 8 <= len(data) and _tag_at(data, pos) == ITEM_END):
                pos = yield from _element_values(data, pos, depth)
            pos = item_end(data, pos, implicit=False)
        else:
            pos = start + size
            yield from every_value(data, start, pos, depth)
    if pos != end or length == UNDEFINED:
        raise CannotTell
    return pos
