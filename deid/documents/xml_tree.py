"""XML read safely into a small tree, and written back.

The standard library's expat parser is used with a DOCTYPE refused outright:
without a DTD there are no entity declarations, so nothing can be expanded
(billion laughs) or fetched (external entities), and no DTD is ever
loaded. CDA documents never need one. defusedxml does the same with the
same handlers, but adds a dependency that has not had a release since
2021 for what are a few lines here.

Namespace processing is off, so element and attribute names keep the
prefixes they were written with and the output binds them the same way.
Comments and processing instructions are not kept: they are not content
and can carry anything (an export note naming the patient, a stylesheet
URL on a hospital server).
"""

from __future__ import annotations

import xml.parsers.expat
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

MAX_DEPTH = 256  # CDA nests ~30 deep; deeper is hostile (and would exhaust recursion)


class XmlRejected(Exception):
    """The bytes are not XML deid reads; the message says why."""


@dataclass
class Element:
    name: str  # as written, prefix included
    attrs: list[tuple[str, str]] = field(default_factory=list)
    children: list[Element | str] = field(default_factory=list)

    @property
    def local(self) -> str:
        return self.name.rpartition(":")[2]

    def attr(self, local: str) -> str | None:
        return next((v for k, v in self.attrs if k.rpartition(":")[2] == local), None)

    def text(self) -> str:
        """All text inside, in order, words separated by a space."""
        parts: list[str] = []
        stack: list[Element | str] = [self]
        while stack:
            node = stack.pop()
            if isinstance(node, str):
                parts.append(node)
            else:
                stack.extend(reversed(node.children))
        return " ".join(" ".join(parts).split())


def _refuse(what: str):  # noqa: ANN202 - an expat handler
    def handler(*_: object) -> None:
        raise XmlRejected(f"XML with {what} is not read (no DTD or entities are allowed)")

    return handler


def parse(data: bytes) -> Element:
    """The document's root element; XmlRejected when it is not well-formed
    XML, has a DOCTYPE or nests deeper than MAX_DEPTH."""
    parser = xml.parsers.expat.ParserCreate()
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse("a DOCTYPE")
    parser.EntityDeclHandler = _refuse("entity declarations")
    parser.ExternalEntityRefHandler = _refuse("external entities")
    parser.ordered_attributes = True
    parser.buffer_text = True
    stack: list[Element] = []
    roots: list[Element] = []

    def start(name: str, attrs: list[str]) -> None:
        if len(stack) >= MAX_DEPTH:
            raise XmlRejected(f"XML nested deeper than {MAX_DEPTH} elements is not read")
        node = Element(name, list(zip(attrs[::2], attrs[1::2], strict=True)))
        (stack[-1].children if stack else roots).append(node)
        stack.append(node)

    def end(_: str) -> None:
        stack.pop()

    def text(value: str) -> None:
        if stack:
            stack[-1].children.append(value)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as exc:
        raise XmlRejected(f"not well-formed XML ({exc})") from None
    if len(roots) != 1:
        raise XmlRejected("no root element")
    return roots[0]


_ATTR = {'"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}
_TEXT = {"\r": "&#13;"}


def serialize(root: Element) -> bytes:
    """UTF-8 XML with a declaration; text and attribute values escaped."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n']
    stack: list[Element | str | tuple[str]] = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, tuple):  # an end tag
            out.append(f"</{node[0]}>")
        elif isinstance(node, str):
            out.append(escape(node, _TEXT))
        else:
            attrs = "".join(f' {k}="{escape(v, _ATTR)}"' for k, v in node.attrs)
            if not node.children:
                out.append(f"<{node.name}{attrs}/>")
                continue
            out.append(f"<{node.name}{attrs}>")
            stack.append((node.name,))
            stack.extend(reversed(node.children))
    out.append("\n")
    return "".join(out).encode("utf-8")
