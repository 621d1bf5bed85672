"""report.html's list of files: what was written where, what was not and why,
what was redacted (thumbnails cut from the output), each file's findings.

A run lists every file up to views.HTML_FILES, those needing a person first;
a scan lists the files with findings or problems. Each file is one <tbody>
of a single table, so the columns line up across files.
"""

from __future__ import annotations

from typing import Any

from deid.report import thumbnails
from deid.report.html_kit import badge, counts, escape, findings_table, plural

PRODUCED = ("written", "dry-run")


def section(header: dict[str, Any], files: list[dict[str, Any]], notable: int | None) -> str:
    """`files` are the entries to list; `notable` how many the report holds."""
    run = header["schema"].startswith("deid-report")
    title = "Files: what was written where" if run else "Files with findings"
    rows = "".join(_file(i, entry, run) for i, entry in enumerate(files, 1))
    if not files:
        listing = f'<p class="muted">{"No files." if run else "No file has findings."}</p>'
    else:
        listing = f'<table class="files">{_columns(run)}{rows}</table>'
    shown, total = len(files), notable if notable is not None else len(files)
    more = ""
    if total > shown:
        more = (
            f'<p class="muted">The {shown} files most in need of review are listed; '
            f"{total - shown} more are in report.json and findings.csv.</p>"
        )
    intro = _intro(header) if run else ""
    return f'<section id="files"><h2>{title}</h2>{intro}{listing}{more}</section>'


def _intro(header: dict[str, Any]) -> str:
    if header.get("dry_run"):
        pictures = "Dry run: nothing was written, so there are no thumbnails."
    elif header.get("thumbnails"):
        pictures = (
            f"Thumbnails are cut from the written output around each redacted area "
            f"(outlined), the {thumbnails.PER_FILE} largest of a file at most; they are in "
            f"{thumbnails.FOLDER}/ next to this page."
        )
    else:
        pictures = "Thumbnails are off (--no-thumbnails)."
    return f'<p class="muted">Output paths are relative to OUT. {pictures}</p>'


def _columns(run: bool) -> str:
    names = ["status", "input", "output", "findings"] if run else ["status", "input", "findings"]
    widths = ["7rem", "40%", "auto", "9rem"] if run else ["7rem", "auto", "12rem"]
    cols = "".join(f'<col style="width:{w}">' for w in widths)
    head = "".join(f"<th>{n}</th>" for n in names)
    return f"<colgroup>{cols}</colgroup><thead><tr>{head}</tr></thead>"


def _file(index: int, entry: dict[str, Any], run: bool) -> str:
    status = entry["status"]
    cells = [
        f'<td class="status">{badge(status)}</td>',
        f'<td class="input"><code>{escape(entry["input"])}</code></td>',
    ]
    if run:
        cells.append(f'<td class="output">{_output(entry)}</td>')
    cells.append(f'<td class="counts">{counts(entry["findings"])}</td>')
    detail = _detail(entry)
    more = f'<tr class="detail"><td colspan="{len(cells)}">{detail}</td></tr>' if detail else ""
    return (
        f'<tbody class="file {escape(status)}" id="file-{index}"><tr>{"".join(cells)}</tr>'
        f"{more}</tbody>"
    )


def _output(entry: dict[str, Any]) -> str:
    output = entry.get("output") or ""
    if entry["status"] == "written" and output:
        return f"<code>{escape(output)}</code>"
    if entry["status"] == "dry-run" and output:
        return f'<code>{escape(output)}</code> <span class="muted">(dry run: not written)</span>'
    return '<span class="muted">not written</span>'


def _detail(entry: dict[str, Any]) -> str:
    """Why (for a file not written as it came), what was redacted, findings."""
    parts = []
    if entry.get("reason"):
        parts.append(f'<p class="reason">{escape(entry["reason"])}</p>')
    if entry.get("earlier"):
        earlier = escape(entry["earlier"])
        parts.append(f'<p class="reason">the earlier input: <code>{earlier}</code></p>')
    redacted = sum(1 for f in entry["findings"] if f["action"] == "redacted")
    pictures = entry.get("thumbnails") or []
    if pictures:
        caption = (
            f"{plural(redacted, 'region')} redacted. The output around its redacted areas "
            f"(outlined; the {thumbnails.PER_FILE} largest at most):"
        )
        parts.append(
            f'<div class="thumbs"><p class="muted">{caption}</p>'
            + "".join(_thumbnail(p) for p in pictures)
            + "</div>"
        )
    findings = entry["findings"]
    if findings:
        parts.append(
            f"<details><summary>{plural(len(findings), 'finding')}</summary>"
            f"{findings_table(findings)}</details>"
        )
    return "".join(parts)


def _thumbnail(ref: dict[str, Any]) -> str:
    """The picture, and the redacted area outlined over it by the page (the
    picture itself is the output's pixels, untouched). Every attribute is a
    name or a number deid made; none comes from the data."""
    cx, cy, cw, ch = (int(v) for v in ref["crop"])
    bx, by, bw, bh = (int(v) for v in ref["box"])
    width, height = thumbnails.shown_size(cw, ch)
    frame = int(ref["frame"])
    outline = (
        f"left:{100 * (bx - cx) / cw:.2f}%;top:{100 * (by - cy) / ch:.2f}%;"
        f"width:{100 * bw / cw:.2f}%;height:{100 * bh / ch:.2f}%"
    )
    where = f"frame {frame}, x {bx}, y {by}, {bw}×{bh} px"
    return (
        f'<figure class="thumb"><span class="crop"><img src="{escape(ref["src"])}" '
        f'width="{width}" height="{height}" loading="lazy" alt="redacted area: {where}" '
        f'title="{where}" data-frame="{frame}" data-crop="{cx},{cy},{cw},{ch}">'
        f'<i style="{outline}"></i></span><figcaption>{where}</figcaption></figure>'
    )
