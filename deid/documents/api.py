"""The one call that de-identifies an encapsulated document, and the one that
inspects it for `deid scan`."""

from __future__ import annotations

import re

from deid.documents.dates import REMOVE, DateHandling
from deid.documents.kinds import Kind, kind_of, mismatch
from deid.documents.outcome import DocumentOutcome, withheld
from deid.errors import DeidError
from deid.pixels.settings import PixelSettings
from deid.risk.identifiers import IdentifierSet
from deid.safetext import without_values


def deidentify_document(
    mime_type: str,
    data: bytes,
    identifiers: IdentifierSet,
    pixels: PixelSettings,
    label: str,
    dates: DateHandling = REMOVE,
) -> DocumentOutcome:
    """The document with identity removed, or withheld (outcome.data is None).

    mime_type: MIMETypeOfEncapsulatedDocument; data: EncapsulatedDocument
    (trailing padding allowed); identifiers: the file's own values;
    pixels: how text in pictures is redacted (PDF pages are pictures);
    label: the file, for findings; dates: what structured (XML) dates become.
    Never raises for anything in the document: what cannot be handled is
    withheld with a finding that says why.
    """
    kind = kind_of(mime_type)
    if kind is None:
        # Only MIME-type characters are shown: the value is data, and reports are read
        # by terminals and browsers.
        shown = re.sub(r"[^\w/+.\-]", "?", mime_type.strip()[:64]) or "(none)"
        return withheld(label, f"MIME type {shown!r} is not a kind deid can de-identify")
    if not data.strip(b"\x00 \t\r\n"):
        return withheld(label, "the document is empty")
    if problem := mismatch(kind, data):
        return withheld(label, problem)
    try:
        if kind is Kind.PDF:
            from deid.documents.pdf import deidentify_pdf

            return deidentify_pdf(data, identifiers, pixels, label)
        from deid.documents.cda import deidentify_xml

        return deidentify_xml(data, identifiers, pixels, label, dates)
    except DeidError as exc:  # e.g. tesseract missing: nothing was checked
        return withheld(label, without_values(str(exc)))
    except Exception as exc:  # noqa: BLE001 - a hostile document must not stop the batch
        first = str(exc).splitlines()[0] if str(exc) else ""
        return withheld(
            label, f"cannot be de-identified ({type(exc).__name__}: {without_values(first)})"
        )
