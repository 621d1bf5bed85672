"""A few top-level values from the start of a Part 10 header, without pydicom.

The main process reads every input's identifying UIDs before any work is
sent (deid.claims). Building a pydicom data set for that parsed every
element up to group 0020, private blocks included: about a third of the
main process's time on real CT headers. This walk only steps over elements
(tag, VR, length) and copies the values asked for.

It answers only where its answer equals pydicom's: uncompressed
little-endian data sets in Part 10 files, values of printable ASCII. For
anything else (no preamble, big endian, deflated, a value with other bytes,
several values, a header cut short, an element it cannot step over) it
returns None, and the caller reads the header with pydicom as before.
"""

from __future__ import annotations

import re
import struct

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


class _CannotTell(Exception):
    """The walk cannot answer as pydicom would: the caller asks pydicom."""


def top_level_values(head: bytes, tags: frozenset[int]) -> dict[int, str] | None:
    """The values of `tags` (top level, all below group 0x0021) as pydicom's
    str() of them would read, "" for those absent; None when this walk
    cannot tell."""
    try:
        if head[PREAMBLE : PREAMBLE + 4] != b"DICM":
            return None
        pos, syntax = _meta(head, PREAMBLE + 4)
        if syntax in NOT_WALKED:
            return None
        return _values(head, pos, syntax == IMPLICIT_LE, tags, max(tags))
    except (_CannotTell, RecursionError):  # sequences nested thousands deep
        return None


def _meta(head: bytes, pos: int) -> tuple[int, str]:
    """Past the file meta group (always explicit little endian), and its
    transfer syntax."""
    syntax = ""
    while pos + 8 <= len(head) and _U16.unpack_from(head, pos)[0] == 0x0002:
        tag, vr, length, start = _element(head, pos, implicit=False)
        if length == UNDEFINED:
            raise _CannotTell
        if tag == TRANSFER_SYNTAX:
            syntax = _text(head[start : start + length], vr)
        pos = start + length
    if not syntax:
        raise _CannotTell
    return pos, syntax


def _values(head: bytes, pos: int, implicit: bool, tags: frozenset[int], last: int) -> dict:
    found = dict.fromkeys(tags, "")
    while pos < len(head):
        tag, vr, length, start = _element(head, pos, implicit)
        if tag > last:
            return found
        if length == UNDEFINED:
            pos = _skip_sequence(head, start, implicit)
            continue
        if start + length > len(head):
            raise _CannotTell
        if tag in found:
            found[tag] = _text(head[start : start + length], vr)
        pos = start + length
    return found  # the data set ended where an element did, as pydicom reads it too


def _element(head: bytes, pos: int, implicit: bool) -> tuple[int, bytes, int, int]:
    """(tag, VR as written or b"" when implicit, value length, where the value starts)."""
    if pos + 8 > len(head):
        raise _CannotTell
    group, elem = _TAG.unpack_from(head, pos)
    tag = group << 16 | elem
    if implicit or group == 0xFFFE:
        return tag, b"", _U32.unpack_from(head, pos + 4)[0], pos + 8
    vr = head[pos + 4 : pos + 6]
    if vr in SHORT_VRS:
        return tag, vr, _U16.unpack_from(head, pos + 6)[0], pos + 8
    if vr in LONG_VRS and pos + 12 <= len(head):
        length = _U32.unpack_from(head, pos + 8)[0]
        if length == UNDEFINED and vr != b"SQ":
            raise _CannotTell  # an undefined-length UN or encapsulated value
        return tag, vr, length, pos + 12
    raise _CannotTell  # not an explicit VR pydicom would read without guessing


def _skip_sequence(head: bytes, pos: int, implicit: bool) -> int:
    """Past an undefined-length sequence's items and its delimiter."""
    while True:
        tag, _, length, start = _element(head, pos, implicit=True)
        if tag == SEQUENCE_END:
            return start
        if tag != ITEM:
            raise _CannotTell
        pos = _skip_item(head, start, implicit) if length == UNDEFINED else start + length


def _skip_item(head: bytes, pos: int, implicit: bool) -> int:
    """Past an undefined-length item's elements and its delimiter."""
    while True:
        if pos + 8 <= len(head) and _TAG.unpack_from(head, pos) == (0xFFFE, 0xE00D):
            return pos + 8
        _, _, length, start = _element(head, pos, implicit)
        pos = _skip_sequence(head, start, implicit) if length == UNDEFINED else start + length


def _text(raw: bytes, vr: bytes) -> str:
    """A value as pydicom's str() reads it (trailing padding dropped), when
    that is certain: a string VR whose str() is the text itself, printable
    ASCII, one value, no "=" (a person name's empty groups are dropped)."""
    if vr and vr not in TEXT_VRS:
        raise _CannotTell  # a number or bytes: pydicom shows them otherwise
    raw = raw.rstrip(b"\x00 ")
    if _NOT_PLAIN.search(raw):
        raise _CannotTell
    return raw.decode("ascii").strip()
