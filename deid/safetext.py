"""Text from the data, made safe for the places deid shows it.

File names, DICOM values and reasons built from them reach a terminal, a
spreadsheet, a browser and JSON readers. None of these may interpret them:
a name holding an escape sequence must not clear the screen, one starting
with `=` must not run as a formula, and a Linux file name that is not UTF-8
(legal: names are bytes) must not crash a report that has to be UTF-8.
"""

from __future__ import annotations

import re
import unicodedata

# Unicode categories a terminal or an editor acts on instead of showing:
# controls (ESC, newline, CR...), format characters (bidirectional
# overrides that reorder what is shown), line and paragraph separators,
# and lone surrogates.
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """Valid Unicode for any UTF-8 writer: bytes of a name that is not UTF-8
    (decoded by Python as lone surrogates) become `\\xNN`, as Python shows
    them; everything else is unchanged."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate that was not a byte
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def one_line(text: str) -> str:
    """`printable`, with every character a terminal would act on shown as
    an escape (`\\x1b`, `\\n`, `\\u202e`): one line, shown as it is."""
    text = printable(text)
    if text.isprintable():
        return text
    return "".join(_show(c) if unicodedata.category(c) in _HIDDEN else c for c in text)


def _show(char: str) -> str:
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


# OWASP's rule for CSV injection: a cell starting with one of these is a
# formula (or starts one) in Excel, LibreOffice and Google Sheets.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_QUOTE = "'"


def spreadsheet_cell(value: str) -> str:
    """A cell a spreadsheet shows as text: one that would start a formula
    gets a leading apostrophe. So does one that already starts with an
    apostrophe, so that removing exactly one leading apostrophe from any
    cell that has one gives back the value (`from_spreadsheet_cell`)."""
    if value.startswith(FORMULA_START) or value.startswith(_QUOTE):
        return _QUOTE + value
    return value


def from_spreadsheet_cell(cell: str) -> str:
    """The value `spreadsheet_cell` was given."""
    return cell[1:] if cell.startswith(_QUOTE) else cell


# A value quoted in a library's message ('...' or "...", b'...' too).
_QUOTED = re.compile(r"""(['"])(?:(?!\1).)*\1""")


def without_values(message: str) -> str:
    """A library's error message with the values it quotes left out: pydicom
    and Python quote the value they choked on ("invalid literal for int():
    'PID998877'"), and that value may be the patient's. What went wrong and
    where stays; the value does not reach a report, a terminal or a log."""
    return _QUOTED.sub(r"\1…\1", message)
