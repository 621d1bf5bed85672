"""Documents inside a CDA: base64 content (nonXMLBody, observationMedia).

A CDA can carry its whole body as an encoded PDF, or pictures beside its
text. Text cleaning cannot reach into them, so an embedded PDF is
de-identified like an encapsulated one and written back, and anything else
embedded (images, other media, compressed content) is masked.
"""

from __future__ import annotations

import base64
import binascii
from collections import Counter
from collections.abc import Callable

from deid.documents.kinds import Kind, kind_of
from deid.documents.outcome import DocumentOutcome
from deid.documents.xml_tree import Element

MSK = [("nullFlavor", "MSK")]


def is_embedded(node: Element) -> bool:
    return (node.attr("representation") or "").upper() == "B64"


def decoded(node: Element) -> tuple[str, bytes | None]:
    """(media type, bytes) of embedded content; bytes None when they cannot
    be read (compressed, or not base64)."""
    media = (node.attr("mediaType") or "text/plain").strip()
    if node.attr("compression"):
        return media, None
    text = "".join(c for c in node.children if isinstance(c, str))
    try:
        return media, base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        return media, None


def replace(
    root: Element, deidentify_pdf: Callable[[bytes], DocumentOutcome]
) -> tuple[Counter[str], list[DocumentOutcome]]:
    """De-identify embedded PDFs in place and mask other embedded content.
    Returns what was done and every embedded PDF's outcome (a withheld one
    withholds the whole document: the caller checks)."""
    done: Counter[str] = Counter()
    outcomes = []
    stack = [root]
    while stack:
        node = stack.pop()
        stack.extend(c for c in node.children if isinstance(c, Element))
        if not is_embedded(node):
            continue
        media, data = decoded(node)
        if data is not None and kind_of(media) is Kind.PDF:
            outcome = deidentify_pdf(data)
            outcomes.append(outcome)
            if outcome.data is not None:
                encoded = base64.encodebytes(outcome.data).decode("ascii")
                # integrityCheck and the like described the original bytes
                node.attrs = [("mediaType", media), ("representation", "B64")]
                node.children = ["\n" + encoded]
                done["embedded PDFs de-identified"] += 1
                continue
        node.attrs, node.children = list(MSK), []
        done["embedded contents masked"] += 1
    return done, outcomes
