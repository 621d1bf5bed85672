"""Residual-PHI verification: read the output back and look for the input.

Runs on the exact bytes that are written. Every text-bearing element at any
depth, private ones and the file meta included, is searched for the file's
own identifying values. Dates are searched in text, not in date elements,
whose values the profile controls and where a shifted date may coincide
with another original one by chance.
"""

from __future__ import annotations

from io import BytesIO

import pydicom
from pydicom.dataset import Dataset

from deid.actions import TEXT_VRS
from deid.risk.findings import Finding, Severity
from deid.risk.identifiers import IdentifierSet
from deid.scrub import tag_name

_SEARCHED_VRS = TEXT_VRS | {"CS", "UI", "UN", "OB"}
_BULK_LIMIT = 65536
_BULK_TAGS = {0x7FE00010, 0x7FE00008, 0x7FE00009, 0x54001010, 0x00420011}


def _texts(ds: Dataset, prefix: str = ""):
    for elem in ds:
        where = f"{prefix}{tag_name(int(elem.tag))}"
        if elem.VR == "SQ":
            for i, item in enumerate(elem.value or []):
                yield from _texts(item, f"{where}[{i}].")
            continue
        if elem.VR not in _SEARCHED_VRS or int(elem.tag) in _BULK_TAGS:
            continue
        if (elem.tag.group & 0xFF00) in (0x6000, 0x5000) and elem.VR in ("OB", "OW"):
            continue
        value = elem.value
        if value is None:
            continue
        if isinstance(value, bytes):
            if len(value) > _BULK_LIMIT:
                continue
            text = value.decode("latin-1")
        elif (
            isinstance(value, list | tuple)
            or hasattr(value, "__iter__")
            and not isinstance(value, str)
        ):
            text = "\\".join(str(v) for v in value)
        else:
            text = str(value)
        if text.strip():
            yield where, elem.VR, text


def _header_text(data: bytes, pixel_data: bytes | None) -> str:
    """The output bytes as text, minus the pixel data value (the one bulk
    value known not to be text); everything else, meta included, is searched."""
    if pixel_data:
        size = len(pixel_data)
        # Pixel data nearly always ends the file (native, or encapsulated and
        # followed by its 8-byte delimiter): compare there before searching.
        for end in (len(data), len(data) - 8):
            if end >= size and data[end - size : end] == pixel_data:
                return (data[: end - size] + data[end:]).decode("latin-1")
        at = data.rfind(pixel_data)
        if at >= 0:
            data = data[:at] + b"\x00" + data[at + size :]
    return data.decode("latin-1")


def verify(
    data: bytes, identifiers: IdentifierSet, file_label: str, pixel_data: bytes | None = None
) -> list[Finding]:
    """High findings for every identifying value still readable in the output.

    A single pass of all patterns over the raw bytes clears the common case;
    only a file with a match is parsed, to confirm it element by element and
    say where it is.
    """
    compiled = identifiers.compiled()
    if not compiled:
        return []
    literals = identifiers.literals()
    # Raw bytes are compared as Latin-1: valid for ASCII values only. A value
    # with other characters depends on the character set: parse and decode.
    if all(lit.isascii() for lit in literals):
        text = _header_text(data, pixel_data).lower()
        if not any(lit in text for lit in literals):
            return []
    ds = pydicom.dcmread(BytesIO(data))
    findings: list[Finding] = []
    sources = [("", ds)]
    if getattr(ds, "file_meta", None) is not None:
        sources.append(("FileMeta.", ds.file_meta))
    for prefix, source in sources:
        for where, vr, text in _texts(source, prefix):
            for ident, pattern in compiled:
                if vr == "UI" and ident.kind != "id":
                    continue  # UIDs are digits and dots: only IDs can hide there
                if pattern.search(text):
                    findings.append(
                        Finding(
                            rule="verify.residual-phi",
                            severity=Severity.HIGH,
                            message=f"{ident.kind} from {ident.where} still present in output",
                            file=file_label,
                            location=where,
                            action="output withheld",
                            evidence=ident.value,
                        )
                    )
                    break
    return findings
