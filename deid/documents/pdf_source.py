"""Read a PDF with PDFium: pages as pictures, the text layer with where each
match is, and the parts a viewer does not show on the page.

PDFium (through pypdfium2) is the renderer Chrome uses; the wheel is built
without V8 and XFA, so no script in a document can run. PDFium is not
thread-safe: every call goes through one lock, held only while PDFium
works (never during OCR).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from ctypes import c_int, c_ushort
from dataclasses import dataclass
from re import Pattern

import numpy as np

from deid.pixels.detect import Box

DPI = 200  # what the pictures are checked and written at: small print stays legible
MIN_DPI = 100  # below this, print a reader can zoom into may be too small to check
MAX_PAGE_PIXELS = 16_000_000  # ~48 MB of RGB per page, whatever the page size
_LOCK = threading.Lock()


class PdfUnreadable(Exception):
    """The document or a page cannot be rendered; the message says why."""


@dataclass(frozen=True)
class TextHit:
    """A match of an identifying pattern in the text layer."""

    label: str  # phi: one of the file's own values | pattern: looks identifying
    kind: str  # name, id, date, phone, field, ...
    text: str
    boxes: tuple[Box, ...]  # in picture pixels, one per line the match spans


@dataclass(frozen=True)
class Page:
    number: int  # from 1
    picture: np.ndarray  # RGB uint8, what a viewer shows (annotations and forms drawn)
    width_pt: float  # as displayed (rotation applied)
    height_pt: float
    dpi: float
    text: str  # the text layer, "" when the page has none
    hits: tuple[TextHit, ...]
    annotations: int
    annotation_text: tuple[str, ...]  # notes, authors, subjects: not drawn, not in the text layer


@dataclass(frozen=True)
class Parts:
    """What a PDF holds besides its pages' content."""

    metadata: dict[str, str]  # document information dictionary, non-empty values
    attachments: int
    scripts: int  # document-level JavaScript actions
    form: bool
    signatures: int


_OPEN_ERRORS = {
    "FPDF_ERR_PASSWORD": "encrypted (needs a password)",
    "FPDF_ERR_SECURITY": "encrypted with an unsupported security handler",
    "FPDF_ERR_FORMAT": "damaged or not a PDF",
    "FPDF_ERR_FILE": "damaged or not a PDF",
}


def _open_reason(exc: Exception) -> str:
    import pypdfium2.raw as pdfium_c

    code = getattr(exc, "err_code", None)
    for name, reason in _OPEN_ERRORS.items():
        if code == getattr(pdfium_c, name):
            return reason
    return "cannot be opened by PDFium"


class PdfSource:
    def __init__(self, pdf) -> None:  # noqa: ANN001 - pypdfium2.PdfDocument
        self._pdf = pdf

    @property
    def page_count(self) -> int:
        with _LOCK:
            return len(self._pdf)

    def parts(self) -> Parts:
        import pypdfium2.raw as pdfium_c

        with _LOCK:
            pdf = self._pdf
            return Parts(
                metadata={
                    k: v for k, v in pdf.get_metadata_dict(skip_empty=True).items() if v.strip()
                },
                attachments=max(0, pdf.count_attachments()),
                scripts=max(0, pdfium_c.FPDFDoc_GetJavaScriptActionCount(pdf)),
                form=pdf.get_formtype() != pdfium_c.FORMTYPE_NONE,
                signatures=max(0, pdfium_c.FPDF_GetSignatureCount(pdf)),
            )

    def page(self, index: int, patterns: list[tuple[str, str, Pattern[str]]]) -> Page:
        """Page index (from 0) rendered, with the text layer's matches of patterns."""

        number = index + 1
        with _LOCK:
            page = self._pdf[index]
            try:
                width, height = page.get_size()
                if not (width >= 1 and height >= 1):
                    raise PdfUnreadable(f"page {number} has no area")
                scale = min(DPI / 72, math.sqrt(MAX_PAGE_PIXELS / (width * height)))
                if scale * 72 < MIN_DPI:
                    raise PdfUnreadable(
                        f"page {number} ({width / 72:.0f} x {height / 72:.0f} in) is too large "
                        f"to check at {MIN_DPI} dpi"
                    )
                bitmap = page.render(scale=scale, rev_byteorder=True, may_draw_forms=True)
                picture = np.array(bitmap.to_numpy()[..., :3])
                bitmap.close()
                text, hits = _text_layer(page, picture.shape[:2], patterns)
                notes = _annotation_text(page)
            except PdfUnreadable:
                raise
            except Exception as exc:  # noqa: BLE001 - PDFium's errors are all "cannot render"
                raise PdfUnreadable(f"page {number} cannot be rendered ({exc})") from None
            finally:
                page.close()
        return Page(number, picture, width, height, scale * 72, text, hits, *notes)


@contextmanager
def opened(data: bytes) -> Iterator[PdfSource]:
    """The document, open for reading; PdfUnreadable if PDFium cannot open it.
    Forms are loaded first so that filled-in fields are drawn like a viewer
    draws them (PDFium requires this before any page is loaded)."""
    import pypdfium2

    with _LOCK:
        try:
            pdf = pypdfium2.PdfDocument(data)
        except Exception as exc:  # noqa: BLE001 - PdfiumError and anything on bad bytes
            raise PdfUnreadable(_open_reason(exc)) from None
        with suppress(Exception):  # a broken form is still drawn as its annotations
            pdf.init_forms()
    try:
        yield PdfSource(pdf)
    finally:
        with _LOCK:
            pdf.close()


_ANNOTATION_KEYS = (b"Contents", b"T", b"Subj")  # the note, its author, its subject


def _annotation_text(page) -> tuple[int, tuple[str, ...]]:  # noqa: ANN001 - pypdfium2.PdfPage
    """How many annotations the page has, and the text they hold."""
    import pypdfium2.raw as pdfium_c

    count = max(0, pdfium_c.FPDFPage_GetAnnotCount(page))
    out = []
    for i in range(count):
        annot = pdfium_c.FPDFPage_GetAnnot(page, i)
        if not annot:
            continue
        try:
            for key in _ANNOTATION_KEYS:
                size = pdfium_c.FPDFAnnot_GetStringValue(annot, key, None, 0)
                if size <= 2:
                    continue
                buffer = (c_ushort * (size // 2))()
                pdfium_c.FPDFAnnot_GetStringValue(annot, key, buffer, size)
                text = bytes(buffer).decode("utf-16-le", "replace").rstrip("\x00")
                if text.strip():
                    out.append(text)
        finally:
            pdfium_c.FPDFPage_CloseAnnot(annot)
    return count, tuple(out)


def _characters(textpage) -> str:  # noqa: ANN001 - pypdfium2.PdfTextPage
    """One character per PDFium character index, so that match positions
    are character indices (get_text_range may differ around surrogates)."""
    import pypdfium2.raw as pdfium_c

    out = []
    for i in range(textpage.count_chars()):
        code = pdfium_c.FPDFText_GetUnicode(textpage, i)
        out.append(chr(code) if 0 < code < 0x110000 and not 0xD800 <= code < 0xE000 else " ")
    return "".join(out)


def _device_box(page, size: tuple[int, int], rect: tuple[float, ...]) -> tuple[int, ...]:  # noqa: ANN001
    """A rectangle in page units as (x0, y0, x1, y1) picture pixels, rotation included."""
    import pypdfium2.raw as pdfium_c

    rows, cols = size
    left, bottom, right, top = rect
    xs, ys = [], []
    for px, py in ((left, top), (right, bottom)):
        dx, dy = c_int(), c_int()
        pdfium_c.FPDF_PageToDevice(page, 0, 0, cols, rows, 0, px, py, dx, dy)
        xs.append(dx.value)
        ys.append(dy.value)
    return min(xs), min(ys), max(xs), max(ys)


def _line_boxes(rects: list[tuple[int, ...]]) -> tuple[Box, ...]:
    """Character boxes joined into one box per line (a match that wraps to
    the next line must not become one box over everything between)."""
    lines: list[list[int]] = []
    for x0, y0, x1, y1 in rects:
        middle = (y0 + y1) / 2
        if lines and lines[-1][1] <= middle <= lines[-1][3]:
            line = lines[-1]
            line[:] = [min(line[0], x0), min(line[1], y0), max(line[2], x1), max(line[3], y1)]
        else:
            lines.append([x0, y0, x1, y1])
    return tuple(Box(a, b, c - a, d - b, 1.0, "text-layer") for a, b, c, d in lines)


def _char_rect(textpage, index: int) -> tuple[float, ...] | None:  # noqa: ANN001
    """The glyph's own box; the font's box (taller: it reaches into the lines
    above and below) only for glyphs without one."""
    for loose in (False, True):
        try:
            left, bottom, right, top = textpage.get_charbox(index, loose=loose)
        except Exception:  # noqa: BLE001 - a character without a box
            continue
        if right > left and top > bottom:
            return left, bottom, right, top
    return None


def _text_layer(
    page,  # noqa: ANN001 - pypdfium2.PdfPage
    size: tuple[int, int],
    patterns: list[tuple[str, str, Pattern[str]]],
) -> tuple[str, tuple[TextHit, ...]]:
    """The page's text and every match, each reported once: a span inside one
    already found (a birth date that is also "a date") adds nothing."""
    textpage = page.get_textpage()
    try:
        text = _characters(textpage)
        hits, spans = [], []
        for label, kind, pattern in patterns:
            for match in pattern.finditer(text):
                start, end = match.span()
                if any(a <= start and end <= b for a, b in spans):
                    continue
                rects = []
                for i in range(start, end):
                    rect = None if text[i].isspace() else _char_rect(textpage, i)
                    if rect is not None:
                        x0, y0, x1, y1 = _device_box(page, size, rect)
                        if x1 > x0 and y1 > y0:
                            rects.append((x0, y0, x1, y1))
                if rects:
                    spans.append((start, end))
                    hits.append(TextHit(label, kind, match.group(0), _line_boxes(rects)))
        return text, tuple(hits)
    finally:
        textpage.close()
