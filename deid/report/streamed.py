"""JSON documents with lists too long to hold in memory.

A report's file entries, face series and data-set findings grow with the
batch (10^7 files, 10^5 head series). They stay on disk in a spool; the
report's header names them as `Streamed` lists, read again each time they
are iterated and written one item per line, so writing report.json costs no
more memory for a large batch than for a small one.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TextIO

from deid.safetext import printable


class Streamed:
    """A list read again from its source each time it is iterated."""

    def __init__(self, items: Callable[[], Iterable[Any]]) -> None:
        self._items = items

    def __iter__(self) -> Iterator[Any]:
        return iter(self._items())


def dump(fh: TextIO, value: Any) -> None:
    """Write `value` as JSON; streamed lists item by item, one per line."""
    if isinstance(value, Streamed):
        fh.write("[")
        sep = "\n"
        for item in value:
            fh.write(sep + dumps(item))
            sep = ",\n"
        fh.write("\n]")
    elif isinstance(value, dict):
        fh.write("{")
        sep = ""
        for key, item in value.items():
            fh.write(f"{sep}{dumps(key)}: ")
            dump(fh, item)
            sep = ", "
        fh.write("}")
    else:
        fh.write(dumps(value))


def dumps(value: Any) -> str:
    """JSON that any UTF-8 reader takes. Input paths that are not UTF-8
    (Linux names are bytes) reach reports as lone surrogates; they are
    written as `\\xNN`, as the terminal shows them. Characters a terminal
    or an editor would act on without showing them (bidirectional
    overrides, line separators, C1 controls such as U+009B, which a
    terminal takes for ESC [) are written as JSON escapes: the same value
    for a JSON reader, visible to a person."""
    text = json.dumps(value, ensure_ascii=False)
    if text.isascii() and "\x7f" not in text:
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(_printable(value), ensure_ascii=False)
    return _HIDDEN.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _hidden_characters() -> re.Pattern[str]:
    """Every control json leaves as it is (DEL and C1: json escapes only
    U+0000-U+001F), format character and line or paragraph separator, from
    the Unicode database Python ships."""
    codes = (*range(0x7F, 0x10000), *range(0xE0000, 0xE0080))  # the BMP and tag characters
    chars = (chr(c) for c in codes if unicodedata.category(chr(c)) in _CATEGORIES)
    return re.compile("[" + "".join(re.escape(c) for c in chars) + "]")


_CATEGORIES = ("Cc", "Cf", "Zl", "Zp")
_HIDDEN = _hidden_characters()


def _printable(value: Any) -> Any:
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(v) for v in value]
    return value


def without_streamed(value: dict[str, Any]) -> dict[str, Any]:
    """The header with its streamed lists left out: what a caller can keep
    after the spool behind them is gone."""
    return {
        key: without_streamed(item) if isinstance(item, dict) else item
        for key, item in value.items()
        if not isinstance(item, Streamed)
    }
