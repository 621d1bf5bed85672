"""`deid scan` on an encapsulated document: what its text shows, not that it exists.

The document is read the way `deid run` reads it (text layer, annotation
notes, document information, and the pages as pictures through the
burned-in text pipeline at the same resolution; for XML every text node
and attribute) and searched for the file's own values and for identifying
shapes. A document in which nothing identifying is found, such as one
`deid run` wrote, is an info finding; a document deid cannot read is high,
because nobody has checked it.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace

from deid.documents import embedded
from deid.documents.cda import identity_kind, walk
from deid.documents.kinds import Kind, kind_of
from deid.documents.outcome import LOCATION
from deid.documents.patterns import TITLED_NAME, text_patterns
from deid.documents.pdf import MAX_PAGES
from deid.documents.pdf_source import Page, PdfSource, PdfUnreadable, opened
from deid.documents.reading import read_regions
from deid.documents.xml_tree import Element, XmlRejected, parse
from deid.errors import DeidError
from deid.pixels import classify
from deid.pixels.settings import PixelSettings
from deid.risk.findings import Finding, Severity
from deid.risk.identifiers import IdentifierSet, PhraseMatch
from deid.safetext import without_values
from deid.text.patterns import EMAIL, LONG_NUMBER, dates, phones

RULE_UNREAD = "content.encapsulated-document"
RULE_OWN = "content.document-identifier"
RULE_SHAPE = "content.document-pattern"
RULE_PARTS = "content.document-hidden"
RULE_CLEAN = "content.document-examined"
class _Finder:
    """A free-text detector (start, end spans) asked like a compiled pattern."""

    def __init__(self, find) -> None:  # noqa: ANN001 - text -> spans
        self.find = find

    def search(self, text: str) -> PhraseMatch | None:
        first = next(iter(self.find(text)), None)
        return PhraseMatch(text, *first) if first else None


# What the free-text cleaner removes is what a cleaned text must not hold.
XML_SHAPES = (
    ("email", EMAIL),
    ("date", _Finder(dates)),
    ("phone", _Finder(phones)),
    ("number", LONG_NUMBER),
    ("name", TITLED_NAME),
)


def _finding(label: str, rule: str, severity: Severity, message: str, **kw: object) -> Finding:
    kw.setdefault("location", LOCATION)
    return Finding(rule, severity, message, file=label, **kw)  # type: ignore[arg-type]


def _unread(label: str, why: str) -> list[Finding]:
    return [
        _finding(
            label,
            RULE_UNREAD,
            Severity.HIGH,
            f"encapsulated document not inspected: {why}",
            action="de-identify with `deid run`, or review the document by hand",
        )
    ]


def _search(label: str, where: str, texts: list[str], patterns: list) -> list[Finding]:
    """One finding per kind of match in texts: own values high, shapes medium."""
    out, seen = [], set()
    for text in texts:
        for tag, kind, pattern in patterns:
            if (tag, kind) in seen or not (match := pattern.search(text)):
                continue
            seen.add((tag, kind))
            own = tag == "phi"
            out.append(
                _finding(
                    label,
                    RULE_OWN if own else RULE_SHAPE,
                    Severity.HIGH if own else Severity.MEDIUM,
                    f"{kind} {'value of this file' if own else 'shape'} in the document's {where}",
                    location=f"{LOCATION} {where}",
                    action="de-identify with `deid run`",
                    evidence=match.group(0),
                )
            )
    return out


def _parts(label: str, source: PdfSource, patterns: list) -> list[Finding]:
    parts = source.parts()
    out = _search(label, "document information", list(parts.metadata.values()), patterns)
    if parts.metadata and not out:
        out.append(
            _finding(
                label,
                RULE_PARTS,
                Severity.LOW,
                f"document information present ({', '.join(sorted(parts.metadata))})",
                action="review; `deid run` does not write it",
            )
        )
    for count, what in (
        (parts.attachments, "attached file(s) not inspected"),
        (parts.scripts, "JavaScript action(s)"),
        (parts.signatures, "digital signature(s): certificates name their signers"),
    ):
        if count:
            out.append(
                _finding(
                    label,
                    RULE_PARTS,
                    Severity.MEDIUM,
                    f"{count} {what}",
                    action="`deid run` does not write them",
                )
            )
    return out


def _pictures(
    label: str, page: Page, identifiers: IdentifierSet, allow: classify.AllowList
) -> tuple[list[Finding], int]:
    """Findings for the page as a reader sees it, and how many lines were
    read and found harmless."""
    out, harmless = [], 0
    for region in read_regions(page.picture, identifiers, allow, all_text=False):
        box = region.box
        if region.kind in ("phi", "pattern"):
            own = region.kind == "phi"
            out.append(
                _finding(
                    label,
                    RULE_OWN if own else RULE_SHAPE,
                    Severity.HIGH if own else Severity.MEDIUM,
                    f"{region.detail} {'value of this file' if own else 'shape'} "
                    "readable on the page",
                    location=f"{LOCATION} page {page.number} box {box.x},{box.y},{box.w},{box.h}",
                    action="de-identify with `deid run`",
                    evidence=region.text,
                )
            )
        elif region.kind == "unread":
            out.append(
                _finding(
                    label,
                    RULE_SHAPE,
                    Severity.LOW,
                    "text-like region that could not be read",
                    location=f"{LOCATION} page {page.number} box {box.x},{box.y},{box.w},{box.h}",
                    action="review by eye",
                )
            )
        else:
            harmless += 1
    return out, harmless


def inspect_pdf(
    data: bytes, identifiers: IdentifierSet, pixels: PixelSettings, label: str
) -> list[Finding]:
    patterns = text_patterns(identifiers)
    allow = classify.load_allowlist(*pixels.allowlists)
    out: list[Finding] = []
    harmless = layered = 0
    try:
        with opened(data) as source:
            count = source.page_count
            out += _parts(label, source, patterns)
            for index in range(min(count, MAX_PAGES)):
                page = source.page(index, [])
                layered += bool(page.text.strip())
                out += _search(label, f"page {page.number} text layer", [page.text], patterns)
                notes = list(page.annotation_text)
                out += _search(label, f"page {page.number} annotations", notes, patterns)
                if pixels.mode != "off":
                    found, read = _pictures(label, page, identifiers, allow)
                    out, harmless = out + found, harmless + read
    except PdfUnreadable as exc:
        return out + _unread(label, f"PDF {without_values(str(exc))}")
    if count > MAX_PAGES:
        out += _unread(label, f"pages after {MAX_PAGES} of {count}")
    if pixels.mode == "off":
        out += _unread(label, "pages not read as pictures (--pixels off)")
    out.append(
        _finding(
            label,
            RULE_CLEAN,
            Severity.INFO,
            f"PDF examined: {count} page(s), {layered} with a text layer, {harmless} "
            "line(s) read on the pages and found harmless",
        )
    )
    return out


def _embedded(
    label: str, root: Element, identifiers: IdentifierSet, pixels: PixelSettings
) -> list[Finding]:
    """Embedded PDFs inspected as PDFs; other embedded content is not read."""
    out = []
    for node, _ in walk(root):
        if not embedded.is_embedded(node):
            continue
        media, data = embedded.decoded(node)
        if data is not None and kind_of(media) is Kind.PDF:
            out += [
                replace(f, location=f"{f.location} (embedded PDF)")
                for f in inspect_pdf(data, identifiers, pixels, label)
            ]
        else:
            shown = re.sub(r"[^\w/+.\-]", "?", media[:64])
            out.append(
                _finding(
                    label,
                    RULE_PARTS,
                    Severity.MEDIUM,
                    f"embedded {shown} content not inspected",
                    location=f"{LOCATION} <{node.local}>",
                    action="`deid run` masks it",
                )
            )
    return out


def inspect_xml(
    data: bytes, identifiers: IdentifierSet, pixels: PixelSettings, label: str
) -> list[Finding]:
    try:
        root = parse(data.rstrip(b"\x00"))
    except XmlRejected as exc:
        return _unread(label, without_values(str(exc)))
    out = []
    holding = Counter(
        node.local
        for node, parent in walk(root)
        if identity_kind(node, parent) is not None
        and (node.text() or any(k != "nullFlavor" for k, _ in node.attrs))
    )
    if holding:
        out.append(
            _finding(
                label,
                RULE_OWN,
                Severity.HIGH,
                f"{sum(holding.values())} identity element(s) hold values: "
                + ", ".join(f"{n} <{name}>" for name, n in sorted(holding.items())),
                action="de-identify with `deid run`",
            )
        )
    own = [("phi", item.kind, p) for item, p in identifiers.compiled()]
    shapes = [("pattern", kind, p) for kind, p in XML_SHAPES]
    texts = [
        c
        for node, _ in walk(root)
        if not embedded.is_embedded(node)
        for c in node.children
        if isinstance(c, str)
    ]
    values = [v for node, _ in walk(root) for k, v in node.attrs if not k.startswith("xmlns")]
    out += _search(label, "text", texts, own + shapes)
    out += _search(label, "attributes", values, own)
    out += _embedded(label, root, identifiers, pixels)
    out.append(_finding(label, RULE_CLEAN, Severity.INFO, "XML examined: text and attributes"))
    return out


def inspect_document(
    mime_type: str, data: bytes, identifiers: IdentifierSet, pixels: PixelSettings, label: str
) -> list[Finding]:
    """Findings about an encapsulated document's content; never raises for
    anything in the document."""
    if not data.strip(b"\x00 \t\r\n"):
        return [_finding(label, RULE_CLEAN, Severity.INFO, "encapsulated document is empty")]
    kind = kind_of(mime_type)
    if kind is None:
        return _unread(label, "its MIME type is not one deid reads")
    try:
        if kind is Kind.PDF:
            return inspect_pdf(data, identifiers, pixels, label)
        return inspect_xml(data, identifiers, pixels, label)
    except DeidError as exc:
        return _unread(label, without_values(str(exc)))
    except Exception as exc:  # noqa: BLE001 - a hostile document must not stop the scan
        return _unread(label, f"{type(exc).__name__} while reading it")
