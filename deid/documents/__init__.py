"""Encapsulated documents (PDF, CDA/XML): de-identified, or withheld with a reason.

    outcome = deidentify_document(mime_type, data, identifiers, pixels, label, dates)
    if outcome.data is None: do not write the file (outcome.findings say why)

`inspect_document` reads a document the same way for `deid scan`: findings only.
"""

from deid.documents.api import deidentify_document
from deid.documents.dates import DateHandling, DateMode
from deid.documents.inspect import inspect_document
from deid.documents.outcome import DocumentOutcome

__all__ = ["DateHandling", "DateMode", "DocumentOutcome", "deidentify_document", "inspect_document"]
