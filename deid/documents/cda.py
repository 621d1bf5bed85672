"""CDA and other XML documents: identity masked, text cleaned, still XML.

Identity in a CDA sits in known places: the participants' roles hold ids,
addresses and telecoms, their people and organisations hold names, the
patient holds a birth time and characteristics. Those elements are masked
the HL7 way (emptied, nullFlavor="MSK") so the document keeps its shape.
Their values are collected first and join the file's own identifiers, so
the narrative loses the patient's name even when the DICOM header spells it
differently. Then every text node is cleaned with the free-text cleaner,
every attribute that holds an identifying value is dropped, structured
dates follow the profile, and the result is parsed again and searched: a
value still found withholds the document.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import replace

from deid.actions import clean_text
from deid.documents import embedded
from deid.documents.dates import TS, DateHandling, DateMode
from deid.documents.outcome import LOCATION, DocumentOutcome, deidentified, withheld
from deid.documents.patterns import TITLED_NAME, widened
from deid.documents.pdf import deidentify_pdf
from deid.documents.xml_tree import Element, XmlRejected, parse, serialize
from deid.pixels.settings import PixelSettings
from deid.risk.findings import Finding, Severity
from deid.risk.identifiers import Identifier, IdentifierSet
from deid.safetext import without_values
from deid.text.terms import PhraseIndex

# Masked wherever they are: only participants have them, and none is science.
MASK_ANYWHERE = frozenset(
    {"id", "setId", "addr", "telecom", "birthTime", "birthplace", "deceasedTime"}
)
# Entities whose `name` child names a person or an organisation (CDA R2 RIM
# classes); the names of materials, devices and places of care stay.
PEOPLE = frozenset(
    {
        "patient",
        "assignedPerson",
        "guardianPerson",
        "relatedPerson",
        "associatedPerson",
        "informationRecipient",
        "maintainingPerson",
        "subject",
    }
)
ORGANISATIONS = frozenset(
    {
        "representedOrganization",
        "representedCustodianOrganization",
        "providerOrganization",
        "serviceProviderOrganization",
        "scopingOrganization",
        "wholeOrganization",
        "guardianOrganization",
        "receivedOrganization",
        "place",
    }
)
TIME_ELEMENTS = frozenset({"effectiveTime", "time", "low", "high", "center"})
_DATES_DONE = {
    DateMode.REMOVE: "dates removed",
    DateMode.SHIFT: "dates shifted",
    DateMode.KEEP: "dates kept",
}
MSK = [("nullFlavor", "MSK")]


def walk(root: Element) -> Iterator[tuple[Element, Element | None]]:
    """Every element with its parent, document order."""
    stack: list[tuple[Element, Element | None]] = [(root, None)]
    while stack:
        node, parent = stack.pop()
        yield node, parent
        stack.extend((c, node) for c in reversed(node.children) if isinstance(c, Element))


def identity_kind(node: Element, parent: Element | None) -> str | None:
    """Which identity an element holds ("" for a patient characteristic,
    None when it holds none)."""
    local, owner = node.local, parent.local if parent is not None else ""
    if local in MASK_ANYWHERE:
        return local
    if local == "name" and (owner in PEOPLE or owner in ORGANISATIONS):
        return "institution" if owner in ORGANISATIONS else "name"
    if local == "name" and owner == "playingEntity" and parent.attr("classCode") == "PSN":
        return "name"
    if owner == "patient":
        return ""  # sex, race, ethnicity, marital status, religion, language
    return None


def _telecom(value: str) -> tuple[str, str]:
    scheme, _, rest = value.partition(":")
    scheme = scheme.lower()
    if scheme == "mailto":
        return "email", rest
    if scheme in ("tel", "fax"):
        return "phone", rest
    return "id", value


def _values(kind: str, node: Element) -> list[tuple[str, str]]:
    """(identifier kind, value) an identity element holds."""
    if kind in ("name", "institution"):
        return [(kind, node.text())]
    if kind == "id":
        return [("id", node.attr("extension") or "")]
    if kind == "setId":
        return [("id", node.attr("extension") or "")]
    if kind == "telecom":
        return [_telecom(node.attr("value") or "")]
    if kind in ("addr", "birthplace"):
        lines = [c.text() for c in node.children if isinstance(c, Element)]
        return [("address", node.text()), *(("address", line) for line in lines)]
    if kind in ("birthTime", "deceasedTime"):
        return [("date", (node.attr("value") or "")[:8])]
    return []


def harvest(root: Element) -> list[tuple[str, str, str]]:
    """(kind, value, where) of every identity element, nested ones included."""
    found = []
    for node, parent in walk(root):
        kind = identity_kind(node, parent)
        for ident, value in _values(kind or "", node):
            if value.strip():
                found.append((ident, value.strip(), f"{LOCATION} <{node.local}>"))
    return found


def mask(root: Element) -> Counter[str]:
    """Empty every identity element and mark it masked; what was masked."""
    masked: Counter[str] = Counter()
    stack = [root]
    while stack:
        node = stack.pop()
        for child in node.children:
            if not isinstance(child, Element):
                continue
            if identity_kind(child, node) is not None:
                child.attrs, child.children = list(MSK), []
                masked[child.local] += 1
            else:
                stack.append(child)
    return masked


def _clean_text(text: str, patterns: PhraseIndex[Identifier]) -> str:
    """The cleaner's result with the node's own leading and trailing space
    kept (mixed content: words on either side of an inline element must not
    run together); an unchanged node is left exactly as it was."""
    core = text.strip()
    if not core:
        return text
    cleaned = clean_text(TITLED_NAME.sub(" ", core), patterns)
    if cleaned == core:
        return text
    lead = text[: len(text) - len(text.lstrip())]
    trail = text[len(text.rstrip()) :]
    return f"{lead}{cleaned}{trail}" if cleaned else lead or trail


def _identifying(value: str, terms: PhraseIndex[Identifier]) -> bool:
    candidates = [value]
    if TS.match(value) and len(value) > 8:
        candidates.append(value[:8])  # a date inside a timestamp: "19650412" in "196504121030"
    return any(terms.find(v) for v in candidates)


def _is_time(node: Element, key: str) -> bool:
    local = node.local
    if key != "value" or node.attr("unit") is not None:
        return False
    xsi = (node.attr("type") or "").upper()
    return local in TIME_ELEMENTS or xsi.endswith("TS")


def clean(root: Element, patterns: PhraseIndex[Identifier], dates: DateHandling) -> Counter[str]:
    """Clean text nodes, drop identifying attributes, apply the date rule."""
    done: Counter[str] = Counter()
    for node, _ in walk(root):
        for i, child in enumerate(node.children):
            if isinstance(child, str) and not embedded.is_embedded(node):
                cleaned = _clean_text(child, patterns)
                if cleaned != child:
                    node.children[i] = cleaned
                    done["text nodes cleaned"] += 1
        kept = []
        for key, value in node.attrs:
            if key == "xmlns" or key.startswith("xmlns:"):
                kept.append((key, value))  # a namespace binding: never identity, always needed
            elif _is_time(node, key) and TS.match(value.strip()):
                new = dates.apply(value.strip())
                done[_DATES_DONE[dates.mode]] += 1
                if new is not None:
                    kept.append((key, new))
            elif _identifying(value, patterns):
                done["attributes dropped"] += 1
            else:
                kept.append((key, value))
        if len(kept) != len(node.attrs) and not any(k == "nullFlavor" for k, _ in kept):
            kept.append(MSK[0])
        node.attrs = kept
    return done


def residual(root: Element, identifiers: IdentifierSet, label: str) -> list[Finding]:
    """Identifying values still present anywhere in the text or attributes.
    Structured dates are the date rule's business (a shifted date may equal
    another original one by chance), so dates are not searched there."""
    compiled = identifiers.compiled()
    undated = [(i, p) for i, p in compiled if i.kind != "date"]
    found = []
    for node, _ in walk(root):
        texts = [] if embedded.is_embedded(node) else node.children
        values = [(c, compiled) for c in texts if isinstance(c, str)]
        values += [
            (v, undated if _is_time(node, k) else compiled)
            for k, v in node.attrs
            if not k.startswith("xmlns")
        ]
        for value, searched in values:
            hit = next((i for i, p in searched if p.search(value)), None)
            if hit is None and TITLED_NAME.search(value):
                hit = "name"
            if hit is not None:
                kind = hit if isinstance(hit, str) else f"{hit.kind} from {hit.where}"
                found.append(
                    Finding(
                        "document.residual-text",
                        Severity.HIGH,
                        f"{kind} still present in the cleaned document",
                        file=label,
                        location=f"{LOCATION} <{node.local}>",
                        action="output withheld",
                        evidence=value,
                    )
                )
    return found


def deidentify_xml(
    data: bytes,
    identifiers: IdentifierSet,
    pixels: PixelSettings,
    label: str,
    dates: DateHandling,
) -> DocumentOutcome:
    try:
        root = parse(data.rstrip(b"\x00"))  # DICOM pads values to even length with a NUL
    except XmlRejected as exc:
        return withheld(label, without_values(str(exc)))
    own = harvest(root)
    everyone = widened(identifiers, own)
    patterns = everyone.cleaning_patterns()
    inner, outcomes = embedded.replace(
        root, lambda pdf: deidentify_pdf(pdf, everyone, pixels, label)
    )
    found = tuple(
        replace(f, location=f"{f.location} (embedded PDF)") for o in outcomes for f in o.findings
    )
    if any(o.withheld for o in outcomes):
        return withheld(label, "an embedded PDF was withheld", findings=found)
    masked = mask(root)
    changes = clean(root, patterns, dates) + inner
    out = serialize(root)
    try:
        left = residual(parse(out), everyone, label)
    except XmlRejected as exc:  # a bug, not the input: never write what does not parse
        return withheld(label, f"cleaned XML does not parse ({without_values(str(exc))})")
    if left:
        return withheld(
            label,
            f"{len(left)} identifying value(s) still present after cleaning",
            "document.residual-text",
            Severity.HIGH,
            tuple(left),
        )
    parts = [f"{n} <{name}>" for name, n in sorted(masked.items())]
    description = (
        f"XML cleaned: {sum(masked.values())} identity element(s) masked"
        + (f" ({', '.join(parts)})" if parts else "")
        + "".join(f", {n} {what}" for what, n in sorted(changes.items()))
        + "; comments and processing instructions not written"
    )
    extra = {"masked": dict(masked), "changes": dict(changes), "own_identifiers": len(own)}
    return deidentified(label, out, description, tuple(found), extra)
