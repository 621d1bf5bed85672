"""Values of VRs with a strict form (numbers, dates, times, UIDs, ages).

A value of its VR's form holds no name and no free text, which is why
profiles may keep such attributes unread. A file can still write text
where the form is due: in a standard attribute written in another VR, in a
private attribute of an implicit-VR file (its VR is only the dictionary's)
or one written as UN, or just invalidly. Such a value is text: it is never
kept as safe, and verification reads it.
"""

from __future__ import annotations

import re
import struct

from pydicom.multival import MultiValue

_DECIMAL = rb" *[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)? *"
FORMS: dict[str, re.Pattern[bytes]] = {
    "DS": re.compile(_DECIMAL + rb"(\\" + _DECIMAL + rb")*"),
    "IS": re.compile(rb" *[-+]?\d{1,10} *(\\ *[-+]?\d{1,10} *)*"),
    "DA": re.compile(rb"\d{8}(\\\d{8})*"),
    "TM": re.compile(rb"\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)? *"),
    "DT": re.compile(rb"\d{4,14}(\.\d{1,6})?([-+]\d{4})? *"),
    "UI": re.compile(rb"[0-9.]{1,64}(\\[0-9.]{1,64})*\x00?"),
    "AS": re.compile(rb"\d{3}[DWMY]"),
}
# Numbers written as text: what a value of no known form may hold and still
# be no word (an implicit-VR file's private value, a UN one).
NUMERIC_TEXT = re.compile(rb"^[\d.+\-eE\\ \x00]*$")
_BINARY = {"US": "H", "SS": "h", "UL": "L", "SL": "l", "FL": "f", "FD": "d", "UV": "Q", "SV": "q"}
BINARY_NUMBER_VRS = frozenset(_BINARY)
_WORD = re.compile(rb"[A-Za-z]{3}")
_PRINTABLE = re.compile(rb"[\x20-\x7e\x00]+")  # text, or its NUL padding


def raw_has_form(vr: str, raw: bytes) -> bool:
    """Bytes as written: of the VR's form (padding aside)."""
    form = FORMS.get(vr)
    return form is not None and form.fullmatch(raw.rstrip(b" \x00")) is not None


def _items(value: object) -> list:
    """A decoded value's items (one value is one item)."""
    return list(value) if isinstance(value, MultiValue | list | tuple) else [value]


def value_text(value: object) -> bytes | None:
    """A decoded string value as its bytes were (pydicom keeps a number's
    own string); None where it is not text or not ASCII."""
    parts = []
    for item in _items(value):
        text = getattr(item, "original_string", None) or item
        if not isinstance(text, str):
            return None
        parts.append(text)
    try:
        return "\\".join(parts).encode("ascii")
    except UnicodeEncodeError:
        return None


def value_has_form(vr: str, value: object) -> bool:
    """A decoded value of a strict-form VR that is of that form."""
    raw = value_text(value)
    return raw is not None and raw_has_form(vr, raw)


def numeric_text(value: object) -> bool:
    """A decoded value that is numbers written as text."""
    raw = value_text(value)
    return raw is not None and NUMERIC_TEXT.match(raw) is not None


def binary_bytes(vr: str, value: object) -> bytes | None:
    """Decoded binary numbers as little-endian bytes again (what a file held
    there, in the common byte order); None for anything else."""
    code, items = _BINARY.get(vr), _items(value)
    if code is None or not all(isinstance(v, int | float) for v in items):
        return None
    try:
        return struct.pack(f"<{len(items)}{code}", *items)
    except struct.error:
        return None


def binary_without_words(vr: str, value: object) -> bool:
    """Binary numbers that are no text: read from an implicit-VR file, their
    bytes are whatever the file held. Numbers are text when their bytes
    hold three letters in a row; doubles of plain size (0, or [1e-12, 1e5]:
    gradient directions, b-matrices) are never, since a test for letters
    alone dropped one direction in twelve. A double outside that range is
    text when its bytes hold letters or are all printable (digits: a birth
    date and an ID, eight characters each): cos 90 degrees computed
    (6.1e-17, in many a gradient direction) is neither, and one such
    component dropped the direction."""
    raw = binary_bytes(vr, value)
    if raw is None:
        return False
    if vr == "FD":
        odd = [v for v in _items(value) if not _plain_double(v)]
        if not odd:
            return True
        if any(_PRINTABLE.fullmatch(struct.pack("<d", v)) for v in odd):
            return False
    return _WORD.search(raw) is None


def _plain_double(v: float) -> bool:
    return v == 0 or 1e-12 <= abs(v) <= 1e5
