"""Building blocks of report.html: escaped text, badges, tables.

Every value that comes from the data (names, paths, values, reasons) goes
through `escape` before it reaches the page; the blocks below take text that
is already markup, so escaping happens once, where the value is read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from html import escape as html_escape
from typing import Any

from deid.safetext import one_line
from deid.spool import TopN

RANK = {"high": 3, "medium": 2, "low": 1}  # levels and severities; none/info rank 0
SEVERITIES = ("high", "medium", "low", "info")


def escape(value: object) -> str:
    """Text from the data for the page: HTML-escaped, and with characters a
    browser would hide or act on (controls, bidirectional overrides, bytes
    of a name that is not UTF-8) shown as escapes."""
    return html_escape(one_line(str(value)))


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def sev(severity: str) -> str:
    return f'<span class="sev {escape(severity)}">{escape(severity)}</span>'


def badge(status: str) -> str:
    """A file's status, coloured by what it asks of the reader."""
    return f'<span class="badge {escape(status)}">{escape(status)}</span>'


def counts(findings: Iterable[dict[str, Any]]) -> str:
    """Severity badges with their counts: `high 2 low 5`."""
    tally = {s: 0 for s in SEVERITIES}
    for f in findings:
        tally[f["severity"]] = tally.get(f["severity"], 0) + 1
    return " ".join(f"{sev(s)} {n}" for s, n in tally.items() if n and s != "info")


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    numeric: frozenset[int] = frozenset(),
    css: str = "",
) -> str:
    """Cells are markup already (escaped where they hold data)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>"
            for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    cls = f' class="{css}"' if css else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def findings_table(findings: list[dict[str, Any]]) -> str:
    rows = [
        [
            sev(f["severity"]),
            f"<code>{escape(f['rule'])}</code>",
            escape(f["location"]),
            escape(f["message"]),
            escape(f.get("evidence", "")),
            escape(f["action"]),
        ]
        for f in findings
    ]
    return table(["severity", "rule", "where", "what", "evidence", "what to do"], rows,
                 css="findings")


def worst(
    items: Iterable[dict[str, Any]], rank: Callable, limit: int
) -> tuple[list[dict[str, Any]], int]:
    """At most `limit` items, most serious first, and how many there were:
    a page of 10^5 head series would not be read (report.json has them all)."""
    top: TopN[dict[str, Any]] = TopN(limit)
    for item in items:
        top.add(rank(item), item)
    return top.items(), top.seen


def more(shown: int, total: int, what: str) -> str:
    if total <= shown:
        return ""
    return (
        f'<p class="muted">The {shown} most serious are listed; {total - shown} more {what} '
        "are in report.json.</p>"
    )
