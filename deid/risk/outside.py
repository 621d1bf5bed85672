"""Text a file holds outside its elements: the preamble, and bytes after
the pixel data (Data Set Trailing Padding, junk appended to the file).

`deid scan` reads a header up to its pixel data; a name written into the
128-byte preamble or appended after the last element was never looked at,
and the file passed clean. `deid run` writes a zero preamble and nothing
after the data set, so only a scan needs this.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Iterator
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian

from deid.dicom_io import surplus_pixel_bytes
from deid.paths import open_regular
from deid.raw_walk import ITEM, PREAMBLE, SEQUENCE_END, UNDEFINED
from deid.risk.findings import Finding, Severity
from deid.risk.identifiers import Identifier
from deid.text import find
from deid.text.terms import PhraseIndex

_PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)
_TEXT_RUN = re.compile(rb"[\x20-\x7e]{4,}")
TAIL_LIMIT = 1 << 20  # bytes after the pixel data read at most


def findings(
    path: Path, kind: str, syntax: UID, pixel_at: int, head: bytes,
    terms: PhraseIndex[Identifier], label: str,
) -> list[Finding]:  # fmt: skip
    """A high finding for each place outside the elements whose text holds
    a name, an identifier, a date or another pattern the free-text check
    finds. `pixel_at`, `head`: where the pixel data element starts and its
    first 12 bytes (the scan's read stops there)."""
    found: list[Finding] = []

    def search(place: str, data: bytes) -> None:
        for _, text in _runs(place, data):
            found.extend(_identifying(place, text, terms, label, "outside any element", _OUTSIDE))

    with open_regular(path) as fh:
        if kind == "part10":
            search("preamble", fh.read(PREAMBLE))
        end = _pixel_data_end(fh, syntax, pixel_at, head)
        if end is not None:
            fh.seek(end)
            search(_AFTER, fh.read(TAIL_LIMIT))
            unread = os.fstat(fh.fileno()).st_size - fh.tell()
            if unread > 0:
                found.append(_unread(_AFTER, unread, label, _OUTSIDE))
    return found


def _unread(place: str, unread: int, label: str, action: str) -> Finding:
    """What the scan did not read is a finding, never silence: a name past
    the first MiB of junk appended to a file passed clean. Reading all of
    it would let one file hold a scan for minutes (a MiB of random bytes
    takes a second to search)."""
    return Finding(
        rule="header.outside-unread",
        severity=Severity.MEDIUM,
        message=f"{place}: {unread} bytes past the first {TAIL_LIMIT >> 20} MiB not searched "
        "for identifying text",
        file=label,
        location=place,
        action=action,
    )


_AFTER = "bytes after the pixel data"
_OUTSIDE = "de-identify with `deid run` (a zero preamble, nothing after the data set)"
_SURPLUS = "de-identify with `deid run` (it removes them)"


def _identifying(
    place: str, text: str, terms: PhraseIndex[Identifier], label: str, where: str, action: str
) -> list[Finding]:
    spans = find.spans(text, terms)
    if not spans:
        return []
    kinds = ", ".join(dict.fromkeys(s.kind for s in spans))
    return [
        Finding(
            rule="header.outside-elements",
            severity=Severity.HIGH,
            message=f"{kinds} in the {place}, {where}",
            file=label,
            location=place,
            action=action,
            evidence=find.redact(text, spans),
        )
    ]


def surplus_finding(surplus: int, label: str, severity: Severity, action: str) -> Finding:
    """Bytes native pixel data holds after its last frame, as a scan reports
    them and a run says it removed them."""
    return Finding(
        rule="pixels.surplus-bytes",
        severity=severity,
        message=f"PixelData holds {surplus} bytes after its last frame (more than Rows, "
        "Columns, NumberOfFrames and BitsAllocated describe): no part of the image, never "
        "examined",
        file=label,
        location="PixelData",
        action=action,
    )


def surplus_findings(
    path: Path,
    syntax: UID,
    ds: Dataset,
    span: tuple[int, int],
    terms: PhraseIndex[Identifier],
    label: str,
) -> list[Finding]:
    """Bytes native pixel data holds after its last frame: no part of the
    image, never examined as one (`deid run` removes them). Their text is
    read as the bytes after the pixel data are. `span`: where the pixel data
    value starts in the file and its declared length (not known in a
    deflated file's bytes)."""
    start, length = span
    surplus = surplus_pixel_bytes(ds, length)
    if not surplus or syntax == DeflatedExplicitVRLittleEndian:
        return []
    found = [surplus_finding(surplus, label, Severity.MEDIUM, _SURPLUS)]
    with open_regular(path) as fh:
        fh.seek(start + length - surplus)
        tail = fh.read(min(surplus, TAIL_LIMIT))
    place = "pixel data after its last frame"
    for _, text in _runs(place, tail):
        found.extend(_identifying(place, text, terms, label, "no part of the image", _SURPLUS))
    if surplus > TAIL_LIMIT:
        found.append(_unread(place, surplus - TAIL_LIMIT, label, _SURPLUS))
    return found


def _runs(place: str, data: bytes) -> Iterator[tuple[str, str]]:
    for run in _TEXT_RUN.findall(data):
        yield place, run.decode("ascii")


def _pixel_data_end(fh, syntax: UID, at: int, head: bytes) -> int | None:
    """Where the pixel data element ends in the file; None where it cannot
    be told from the file's bytes (deflated, big endian, no pixel data)."""
    if syntax in (DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian) or len(head) < 12:
        return None
    tag, vr = struct.unpack_from("<L", head)[0], head[4:6]
    tag = (tag & 0xFFFF) << 16 | tag >> 16  # (group, element) as written, little endian
    if tag not in _PIXEL_TAGS:
        return None
    if syntax.is_implicit_VR:
        length, start = struct.unpack_from("<L", head, 4)[0], 8
    elif vr in (b"OB", b"OW", b"OF", b"OD", b"UN"):
        length, start = struct.unpack_from("<L", head, 8)[0], 12
    else:
        return None
    if length != UNDEFINED:
        return at + start + length
    fh.seek(at + start)  # encapsulated: items up to the sequence delimiter
    while True:
        item = fh.read(8)
        if len(item) < 8:
            return None
        group, number, size = struct.unpack("<HHL", item)
        if group << 16 | number == SEQUENCE_END:
            return fh.tell()
        if group << 16 | number != ITEM:
            return None
        fh.seek(size, 1)
