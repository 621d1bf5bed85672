"""Printing to the terminal without letting the data speak to it.

Rich reads `[...]` in a string as markup and `:name:` as emoji, and a
terminal acts on escape sequences and line breaks. File names, values and
reasons come from the data, so every piece printed here is plain text:
markup is never parsed (styles are given as (text, style) pairs, built by
code), and characters a terminal acts on are shown as escapes, so one
message stays one line that shows what is really there.
"""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from deid.safetext import one_line

Part = str | tuple[str, str]


def line(*parts: Part) -> Text:
    """One line of plain parts; a (text, style) pair is styled, never parsed."""
    text = Text(no_wrap=False, end="\n")
    for part in parts:
        if isinstance(part, tuple):
            text.append(one_line(part[0]), style=part[1])
        else:
            text.append(one_line(part))
    return text


def say(console: Console, *parts: Part) -> None:
    """Print one line built by `line`: no markup, no emoji, no highlighting,
    and no wrapping (a long path stays on the line it belongs to)."""
    console.print(line(*parts), highlight=False, markup=False, emoji=False, soft_wrap=True)


def cell(value: object) -> Text:
    """A table cell holding data: shown as written, on one line."""
    return Text(one_line(str(value)))
