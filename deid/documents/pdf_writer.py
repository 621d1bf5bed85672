"""Write a new PDF that holds one picture per page and the text read on it.

Nothing of the source document is copied: no text layer, no document
information dictionary, no XMP, no attachments, no JavaScript, no
annotations or forms, no outlines, no object numbers. What is left to
leak is what the pictures show, and those were redacted and checked. Each
page gets an invisible text layer (render mode 3, as OCR tools write) of
the lines read on its redacted picture and kept, placed over them, so the
document can be searched and its text copied as before.

Pages are stored losslessly as Flate-compressed image XObjects with PNG
row predictors (the PDF filter accepts a PNG's IDAT data as is), so
OpenCV's PNG encoder does the compression; grey pages are stored as grey.
"""

from __future__ import annotations

import struct
import unicodedata
import zlib
from collections.abc import Sequence
from contextlib import suppress
from typing import TYPE_CHECKING

import numpy as np

from deid.cv import cv2

if TYPE_CHECKING:
    from deid.pixels.detect import Box

GREY_TOLERANCE = 8  # channel spread below which a page is stored as grey


def _png_parts(picture: np.ndarray) -> tuple[bytes, int]:
    """The zlib stream of the picture as a PNG (with per-row filters) and
    its number of colour components."""
    if picture.ndim == 3:
        spread = picture.max(axis=2).astype(np.int16) - picture.min(axis=2)
        if int(spread.max()) <= GREY_TOLERANCE:
            picture = cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY)
        else:
            picture = cv2.cvtColor(picture, cv2.COLOR_RGB2BGR)
    ok, png = cv2.imencode(".png", np.ascontiguousarray(picture))
    if not ok:
        raise ValueError("PNG encoder failed")
    raw = png.tobytes()
    pos, idat, colours = 8, bytearray(), 0
    while pos < len(raw):
        length, kind = struct.unpack(">I4s", raw[pos : pos + 8])
        body = raw[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            depth, colour_type, _, _, interlace = body[8:13]
            if depth != 8 or colour_type not in (0, 2) or interlace:
                raise ValueError(f"unexpected PNG layout {depth}/{colour_type}/{interlace}")
            colours = 1 if colour_type == 0 else 3
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return bytes(idat), colours


def _number(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


AVERAGE_WIDTH = 0.5  # Helvetica's mean glyph width, in ems: stretches a line over its box


def _winansi(text: str) -> bytes:
    """The text in WinAnsiEncoding (cp1252: dashes, quotes and the euro
    sign too; ligatures split first); what it cannot write is left out."""
    out = bytearray()
    for char in " ".join(text.split()):
        if not char.isprintable():
            continue
        for form in (char, unicodedata.normalize("NFKC", char)):
            with suppress(UnicodeEncodeError):
                out += form.encode("cp1252")
                break
    return bytes(out)


def _invisible(text: str, box: Box, scale: tuple[float, float], height_pt: float) -> bytes:
    """One line of invisible text over the box it was read in: PDF user
    space runs up from the bottom left, the picture's rows down from the
    top. Characters WinAnsi cannot write are left out."""
    data = _winansi(text)
    if not data.strip():
        return b""
    sx, sy = scale
    size = max(box.h * sy * 0.8, 1.0)
    stretch = min(max(100 * box.w * sx / (AVERAGE_WIDTH * size * len(data)), 10.0), 1000.0)
    x, y = box.x * sx, height_pt - (box.y + box.h * 0.85) * sy
    escaped = data.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
    return (
        f"\nBT 3 Tr /F1 {_number(size)} Tf {_number(stretch)} Tz "
        f"1 0 0 1 {_number(x)} {_number(y)} Tm ("
    ).encode() + escaped + b") Tj ET"


class ImagePdf:
    """Pages are added one at a time and only their compressed bytes are
    kept, so a long document never holds more than one page's picture."""

    def __init__(self) -> None:
        self._objects: list[bytes] = [b"", b""]  # catalog and page tree, written last
        self._pages: list[int] = []
        self._font = 0  # one Helvetica for every page's text layer, added when first used
        self.lines = 0  # lines written to text layers

    def _add(self, body: bytes) -> int:
        self._objects.append(body)
        return len(self._objects)

    def add_page(
        self,
        picture: np.ndarray,
        width_pt: float,
        height_pt: float,
        lines: Sequence[tuple[str, Box]] = (),
    ) -> None:
        """picture: (rows, cols, 3) RGB or (rows, cols) grey, uint8; the page
        is width_pt x height_pt points and the picture fills it. lines: text
        and where it was read (picture pixels), written invisibly over it."""
        data, colours = _png_parts(picture)
        rows, cols = picture.shape[:2]
        space = "/DeviceGray" if colours == 1 else "/DeviceRGB"
        image = self._add(
            (
                f"<< /Type /XObject /Subtype /Image /Width {cols} /Height {rows} "
                f"/ColorSpace {space} /BitsPerComponent 8 /Filter /FlateDecode "
                f"/DecodeParms << /Predictor 15 /Colors {colours} /BitsPerComponent 8 "
                f"/Columns {cols} >> /Length {len(data)} >>\nstream\n"
            ).encode()
            + data
            + b"\nendstream"
        )
        width, height = _number(width_pt), _number(height_pt)
        scale = (width_pt / cols, height_pt / rows)
        layer = [_invisible(text, box, scale, height_pt) for text, box in lines]
        layer = [line for line in layer if line]
        self.lines += len(layer)
        content = zlib.compress(
            f"q {width} 0 0 {height} 0 0 cm /Im0 Do Q".encode() + b"".join(layer)
        )
        stream = self._add(
            f"<< /Filter /FlateDecode /Length {len(content)} >>\nstream\n".encode()
            + content
            + b"\nendstream"
        )
        self._pages.append(
            self._add(
                (
                    f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {width} {height}] "
                    f"/Resources << /XObject << /Im0 {image} 0 R >>{self._fonts(layer)} >> "
                    f"/Contents {stream} 0 R >>"
                ).encode()
            )
        )

    def _fonts(self, layer: list[bytes]) -> str:
        if not layer:
            return ""
        if not self._font:
            self._font = self._add(
                b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
                b"/Encoding /WinAnsiEncoding >>"
            )
        return f" /Font << /F1 {self._font} 0 R >>"

    @property
    def page_count(self) -> int:
        return len(self._pages)

    def finish(self) -> bytes:
        kids = " ".join(f"{p} 0 R" for p in self._pages)
        self._objects[0] = b"<< /Type /Catalog /Pages 2 0 R >>"
        self._objects[1] = f"<< /Type /Pages /Kids [{kids}] /Count {len(self._pages)} >>".encode()
        out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for number, body in enumerate(self._objects, 1):
            offsets.append(len(out))
            out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
        xref = len(out)
        out += f"xref\n0 {len(self._objects) + 1}\n0000000000 65535 f \n".encode()
        out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
        out += (
            f"trailer\n<< /Size {len(self._objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n"
        ).encode()
        return bytes(out)
