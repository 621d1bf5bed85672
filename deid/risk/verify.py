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


def verify(data: bytes, identifiers: IdentifierSet, file_label: str) -> list[Finding]:
    """High findings for every identifying value still readable in the output."""
    ds = pydicom.dcmread(BytesIO(data))
    compiled = identifiers.compiled()
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
