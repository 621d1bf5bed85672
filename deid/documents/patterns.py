"""What identifying text looks like in a document, beyond the file's own values.

A report names people the DICOM header never mentions (the dictating
radiologist, a nurse to call) and labels its identity fields. Two shapes
find most of them: a title before a capitalised name ("Dr. Carrasco",
"MRS PANZA"), and an identity label before a value ("DOB: ...",
"Signed by: ..."). They are judged per line, which is what redaction
removes.
"""

from __future__ import annotations

import re

from deid.pixels.classify import GENERIC
from deid.risk.identifiers import IdentifierSet

_TITLES = r"Dr|Drs|Mr|Mrs|Ms|Miss|Mx|Prof|Sr|Sra|Srta|Herr|Frau|Mme|Mlle"
TITLED_NAME = re.compile(
    rf"(?<![\w])(?i:{_TITLES})\.?[ \t]+[A-Z][A-Za-z'\-]+(?:[ \t]+[A-Z][A-Za-z'\-]+)?"
)
# Labels of fields whose value identifies someone (forms, report headers).
_LABELS = (
    "patient",
    "patient name",
    "name",
    "surname",
    "first name",
    "last name",
    "given name",
    "dob",
    "d.o.b.",
    "date of birth",
    "birth date",
    "born",
    "mrn",
    "medical record number",
    "patient id",
    "id",
    "hospital number",
    "nhs number",
    "ssn",
    "social security number",
    "address",
    "phone",
    "telephone",
    "tel",
    "mobile",
    "email",
    "e-mail",
    "physician",
    "referred by",
    "doctor",
    "attending",
    "radiologist",
    "signed by",
    "signed",
    "reported by",
    "dictated by",
    "technologist",
    "accession",
    "accession number",
    "account number",
    "insurance",
    "guarantor",
    "next of kin",
)
_LABEL = "|".join(re.escape(w) for w in sorted(_LABELS, key=len, reverse=True))
LABELLED_FIELD = re.compile(rf"(?<![\w])(?:{_LABEL})[ \t]*(?:#|:|no\.)[ \t]*[^\s][^\r\n]*", re.I)
# The e-mail finder is no compiled pattern (deid.text.patterns) and reads
# any case already.
_GENERIC_ANY_CASE = [
    (kind, re.compile(p.pattern, re.I) if isinstance(p, re.Pattern) else p) for kind, p in GENERIC
]


def document_kind(text: str) -> str | None:
    """Which document shape a line of text has ("name" or "field"), if any."""
    if TITLED_NAME.search(text):
        return "name"
    if LABELLED_FIELD.search(text):
        return "field"
    return None


def text_patterns(identifiers: IdentifierSet) -> list[tuple[str, str, re.Pattern[str]]]:
    """(label, kind, pattern) for searching a text layer or a document's text:
    the file's own values (label "phi"), the generic shapes OCR text is
    labelled with and the document shapes above (label "pattern")."""
    own = [("phi", item.kind, pattern) for item, pattern in identifiers.compiled()]
    shapes = [*_GENERIC_ANY_CASE, ("name", TITLED_NAME), ("field", LABELLED_FIELD)]
    return [*own, *(("pattern", kind, pattern) for kind, pattern in shapes)]


def widened(identifiers: IdentifierSet, extra: list[tuple[str, str, str]]) -> IdentifierSet:
    """A copy of identifiers with (kind, value, where) added: a document's own
    identity (the names in a CDA header) cleans its narrative too. The
    caller's set is not changed."""
    out = IdentifierSet()
    for item in identifiers.items:
        out.add(item.kind, item.value, item.where)
    for kind, value, where in extra:
        out.add(kind, value, where)
    return out
