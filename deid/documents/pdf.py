"""PDF documents: every page redrawn as a redacted, checked picture.

The output is a new PDF built from those pictures (pdf_writer) and an
invisible text layer of the lines read on them and kept, so nothing of the
source file survives but what its pages show once redacted, and the
document can still be searched.
"""

from __future__ import annotations

from deid.documents.outcome import LOCATION, DocumentOutcome, deidentified, withheld
from deid.documents.pages import redact_page
from deid.documents.patterns import text_patterns
from deid.documents.pdf_source import Parts, PdfSource, PdfUnreadable, opened
from deid.documents.pdf_writer import ImagePdf
from deid.pixels import classify, detect
from deid.pixels.settings import PixelSettings
from deid.risk.findings import Finding, Severity
from deid.risk.identifiers import IdentifierSet
from deid.safetext import without_values
from deid.text import find

MAX_PAGES = 200  # ~15 min of checking and ~60 MB of pictures; longer ones are withheld


def _parts_finding(label: str, parts: Parts, annotations: int) -> Finding | None:
    """What the source held besides its pages: none of it is written."""
    held = []
    if parts.metadata:
        held.append(f"document information ({', '.join(sorted(parts.metadata))})")
    for count, what in (
        (parts.attachments, "attached file(s)"),
        (parts.scripts, "JavaScript action(s)"),
        (parts.signatures, "digital signature(s)"),
        (annotations, "annotation(s), drawn into the pages and checked with them"),
    ):
        if count:
            held.append(f"{count} {what}")
    if parts.form:
        held.append("a form, drawn into the pages and checked with them")
    if not held:
        return None
    return Finding(
        "document.pdf-parts",
        Severity.INFO,
        f"PDF parts not written: {'; '.join(held)}",
        file=label,
        location=LOCATION,
        action="removed",
        evidence="; ".join(f"{k}: {v}" for k, v in sorted(parts.metadata.items())),
    )


def _pages(
    source: PdfSource,
    identifiers: IdentifierSet,
    pixels: PixelSettings,
    label: str,
    findings: list[Finding],
) -> tuple[ImagePdf, int, int, float, int] | DocumentOutcome:
    """Redact and write every page: (writer, regions redacted, lines kept,
    lowest dpi, annotations), or the outcome that withholds the document."""
    allow = classify.load_allowlist(*pixels.allowlists)
    patterns = text_patterns(identifiers)
    writer = ImagePdf()
    redacted = kept = annotations = 0
    dpi = float("inf")
    for index in range(source.page_count):
        page = source.page(index, patterns)
        result = redact_page(page, identifiers, allow, pixels.redact == "all-text", label)
        findings += result.findings
        if result.residual:
            return withheld(
                label,
                f"identifying text still readable on page {page.number} after redaction",
                "document.residual-text",
                Severity.HIGH,
                tuple(findings),
            )
        lines = _searchable(result.lines, identifiers)
        writer.add_page(result.picture, page.width_pt, page.height_pt, lines)
        redacted, kept = redacted + result.redacted, kept + result.kept
        dpi, annotations = min(dpi, page.dpi), annotations + page.annotations
    return writer, redacted, kept, dpi, annotations


def _searchable(
    lines: list[tuple[str, detect.Box]], identifiers: IdentifierSet
) -> list[tuple[str, detect.Box]]:
    """The kept lines, as read from the redacted page, for its invisible
    text layer (without one, a report could no longer be searched or
    mined). A line in which the free-text check finds anything (a name, a
    date, a number) is left out of it, whatever the page shows."""
    terms = identifiers.terms()
    return [(text, box) for text, box in lines if not find.spans(text, terms)]


def deidentify_pdf(
    data: bytes, identifiers: IdentifierSet, pixels: PixelSettings, label: str
) -> DocumentOutcome:
    if pixels.mode == "off":
        return withheld(label, "PDF text cannot be checked with --pixels off")
    if pixels.redact == "none":
        return withheld(label, "PDF text would be written unredacted (--redact none)")
    findings: list[Finding] = []
    try:
        with opened(data) as source:
            count = source.page_count
            if not 0 < count <= MAX_PAGES:
                return withheld(label, f"PDF has {count} pages (deid handles 1 to {MAX_PAGES})")
            parts = source.parts()
            done = _pages(source, identifiers, pixels, label, findings)
    except PdfUnreadable as exc:
        return withheld(label, f"PDF {without_values(str(exc))}", findings=tuple(findings))
    if isinstance(done, DocumentOutcome):
        return done
    writer, redacted, kept, dpi, annotations = done
    layered = writer.lines
    if (extra := _parts_finding(label, parts, annotations)) is not None:
        findings.append(extra)
    description = (
        f"PDF redrawn as {count} page picture(s) at {dpi:.0f} dpi: {redacted} text "
        f"region(s) redacted, {kept} line(s) read and kept, an invisible text layer of "
        f"{layered} of them as read; no source text layer, metadata, attachments, scripts or "
        "annotations written"
    )
    return deidentified(label, writer.finish(), description, tuple(findings))
