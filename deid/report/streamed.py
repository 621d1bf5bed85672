"""JSON documents with lists too long to hold in memory.

A report's file entries, face series and data-set findings grow with the
batch (10^7 files, 10^5 head series). They stay on disk in a spool; the
report's header names them as `Streamed` lists, read again each time they
are iterated and written one item per line, so writing report.json costs no
more memory for a large batch than for a small one.
"""

from __future__ import annotations

import json
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
    written as `\\xNN`, as the terminal shows them."""
    text = json.dumps(value, ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(_printable(value), ensure_ascii=False)
    return text


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
