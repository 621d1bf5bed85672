"""Which documents deid can de-identify, by MIME type (and a look at the bytes).

DICOM's Encapsulated Document module names the type in MIMETypeOfEncapsulatedDocument
(0042,0012): application/pdf for Encapsulated PDF, text/XML for Encapsulated
CDA (PS3.3 A.45, A.47). Anything else (STL and OBJ models, MTL, or a type
nobody registered) is not a kind deid can read, so it is withheld.
"""

from __future__ import annotations

from enum import Enum


class Kind(Enum):
    PDF = "pdf"
    XML = "xml"


_BY_MIME = {
    "application/pdf": Kind.PDF,
    "application/x-pdf": Kind.PDF,
    "text/xml": Kind.XML,
    "application/xml": Kind.XML,
    "application/hl7-cda+xml": Kind.XML,
    "application/hl7-v3+xml": Kind.XML,
}


def kind_of(mime_type: str) -> Kind | None:
    """MIME types compare case-insensitively and without parameters
    ("text/XML; charset=UTF-8" is XML)."""
    base = mime_type.split(";", 1)[0].strip().lower()
    return _BY_MIME.get(base)


def mismatch(kind: Kind, data: bytes) -> str:
    """Why the bytes are not what the MIME type says ("" when they could be).
    PDF readers accept a header anywhere in the first kilobyte."""
    head = data[:1024]
    if kind is Kind.PDF and b"%PDF-" not in head:
        return "declared application/pdf but has no PDF header"
    if kind is Kind.XML and b"<" not in head:
        return "declared XML but does not start like XML"
    return ""
