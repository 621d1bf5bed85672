"""report.html: one self-contained page for a reviewer.

No scripts, no external files: it opens from a USB stick or an e-mail.
Values shown are those of the report it is built from, so identifying
evidence is redacted unless the user asked to see it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from html import escape as html_escape
from typing import Any

from deid.safetext import one_line
from deid.spool import TopN


def escape(value: str) -> str:
    """Text from the data for the page: HTML-escaped, and with characters a
    browser would hide or act on (controls, bidirectional overrides, bytes
    of a name that is not UTF-8) shown as escapes."""
    return html_escape(one_line(value))

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#1d2330;max-width:80rem}
h1{font-size:1.6rem;margin:0 0 .2rem} h2{font-size:1.15rem;margin:2rem 0 .5rem}
.muted{color:#5b6474} table{border-collapse:collapse;margin:.4rem 0 1rem;width:100%}
th,td{border-bottom:1px solid #dde2ea;padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:#f3f5f9} td.n{text-align:right;font-variant-numeric:tabular-nums}
.sev{display:inline-block;border-radius:.7rem;padding:0 .55rem;font-size:.8rem;color:#fff}
.high{background:#c62828}.medium{background:#e08a00}.low{background:#2f6db5}.info{background:#6b7380}
.cards{display:flex;gap:1rem;flex-wrap:wrap}
.card{border:1px solid #dde2ea;border-radius:.5rem;padding:.7rem 1rem;min-width:8rem}
.card b{display:block;font-size:1.5rem} details{margin:.3rem 0}
summary{cursor:pointer} code{font-size:.85rem;background:#f3f5f9;padding:0 .25rem}
h3{font-size:1rem;margin:1rem 0 .3rem} .hist{margin:.5rem 0 1rem;max-width:36rem}
.bar{display:flex;align-items:center;gap:.5rem;font-size:.85rem;line-height:1.3}
.bar span{width:3rem;text-align:right} .bar i{height:.8rem;background:#2f6db5;display:block}
.bar i.below{background:#c62828} .bar b{font-weight:400}
"""


LISTED = 500  # face series and data-set findings on the page at most
_RANK = {"high": 3, "medium": 2, "low": 1}  # levels and severities; none/info rank 0

# Statuses a reviewer must see even without findings.
_NOTABLE = frozenset({"failed", "not-dicom", "withheld"})


def _worst(items: Iterable[dict[str, Any]], rank: Callable) -> tuple[list[dict[str, Any]], int]:
    """At most LISTED items, most serious first, and how many there were:
    a page of 10^5 head series would not be read (report.json has them all)."""
    top: TopN[dict[str, Any]] = TopN(LISTED)
    for item in items:
        top.add(rank(item), item)
    return top.items(), top.seen


def _more(shown: int, total: int, what: str) -> str:
    if total <= shown:
        return ""
    return (
        f'<p class="muted">The {shown} most serious are listed; {total - shown} more {what} '
        "are in report.json.</p>"
    )


def _sev(severity: str) -> str:
    return f'<span class="sev {escape(severity)}">{escape(severity)}</span>'


def _table(headers: list[str], rows: list[list[str]], numeric: set[int] = frozenset()) -> str:
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
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render(
    header: dict[str, Any],
    files: list[dict[str, Any]],
    title: str = "deid scan report",
    notable: int | None = None,
) -> str:
    """`files` are the entries to list (the worst ones); `notable` is how many
    files have something to show in all, so the page says what it left out."""
    totals = header["totals"]
    profile = header.get("profile")
    profile_name = profile.get("name") if isinstance(profile, dict) else profile
    by_rule = totals.get("findings_by_rule", {})
    severities = totals.get("findings_by_severity", {})
    cards = "".join(
        f'<div class="card">{_sev(s)}<b>{severities.get(s, 0)}</b>findings</div>'
        for s in ("high", "medium", "low", "info")
    )
    cards += (
        f'<div class="card">files<b>{totals["files"]}</b>'
        + ", ".join(f"{escape(k)} {v}" for k, v in totals.get("by_status", {}).items())
        + "</div>"
    )
    parts = [
        f"<h1>{escape(title)}</h1>",
        f'<p class="muted">deid {escape(header["tool"]["version"])} &middot; profile '
        f"<code>{escape(str(profile_name))}</code> &middot; exit code "
        f"{header.get('exit_code')}</p>",
        f'<div class="cards">{cards}</div>',
    ]
    if by_rule:
        parts.append("<h2>Findings by kind</h2>")
        rows = [
            [f"<code>{escape(r)}</code>", str(c)]
            for r, c in sorted(by_rule.items(), key=lambda x: -x[1])
        ]
        parts.append(_table(["rule", "findings"], rows, {1}))
    risk = header.get("dataset_risk")
    if risk:
        parts.append(_risk_section(risk))
    face = (header.get("face") or {}).get("series") or ()
    face, face_total = _worst(face, lambda e: (-_RANK.get(e["level"], 0), e["series"]))
    if face:
        parts.append("<h2>Face-reconstruction risk</h2>")
        rows = [
            [
                _sev({"none": "info"}.get(e["level"], e["level"])) + f" {escape(e['level'])}",
                f"<code>{escape(e['series'])}</code>",
                escape("; ".join(e["reasons"])),
                f'<a href="file://{escape(e["preview"])}">render</a>' if e.get("preview") else "",
            ]
            for e in face
        ]
        parts.append(_table(["level", "series", "why", "preview"], rows))
        parts.append(_more(len(face), face_total, "series"))
        parts.append(
            f'<p class="muted">{escape(header["face"]["note"])}; this page links to '
            "them and never embeds them.</p>"
        )
    dataset = header.get("dataset_findings") or ()
    dataset, dataset_total = _worst(
        dataset, lambda f: (-_RANK.get(f["severity"], 0), f["rule"], f["location"])
    )
    if dataset:
        parts.append("<h2>Data-set findings</h2>")
        parts.append(_findings_table(dataset))
        parts.append(_more(len(dataset), dataset_total, "findings"))
    parts.append("<h2>Findings by file</h2>")
    shown = 0
    for entry in files:
        if not entry["findings"] and entry["status"] not in _NOTABLE:
            continue
        shown += 1
        counts = Counter(x["severity"] for x in entry["findings"])
        badge = " ".join(f"{_sev(s)} {counts[s]}" for s in ("high", "medium", "low") if counts[s])
        status = (
            ""
            if entry["status"] == "scanned"
            else (f" &middot; {escape(entry['status'])}: {escape(entry['reason'])}")
        )
        parts.append(
            f"<details><summary><code>{escape(entry['input'])}</code> {badge}{status}</summary>"
            f"{_findings_table(entry['findings']) if entry['findings'] else ''}</details>"
        )
    if not shown:
        parts.append('<p class="muted">No file has findings.</p>')
    elif notable is not None and notable > shown:
        parts.append(
            f'<p class="muted">The {shown} files with the most serious findings are listed; '
            f"{notable - shown} more are in report.json and findings.csv.</p>"
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        + "\n".join(parts)
        + "</body></html>\n"
    )


def _risk_section(risk: dict[str, Any]) -> str:
    """The data-set risk: figures, class sizes, population, advice."""
    journalist = risk["journalist_risk"]
    rows = [
        ["patients (records)", str(risk["records"])],
        ["equivalence classes", str(risk["equivalence_classes"])],
        [f"k-anonymity (threshold {risk['k_threshold']})", str(risk["k_anonymity"])],
        ["patients in classes below k", f"{risk['share_below_k']:.1%}"],
        ["sample uniques", f"{risk['sample_uniques']} ({risk['share_sample_uniques']:.1%})"],
        [
            "prosecutor risk, max / average over patients / over classes",
            f"{risk['prosecutor_risk']['max']:.3f} / {risk['prosecutor_risk']['average']:.3f}"
            f" / {risk['prosecutor_risk']['average_over_classes']:.3f}",
        ],
        [
            "journalist risk, max / average",
            "not estimated"
            if journalist["max"] is None
            else f"{journalist['max']:.3f} / {journalist['average']:.3f}",
        ],
        ["marketer risk", f"{risk['marketer_risk']:.3f}"],
    ]
    for name, e in (risk["population"].get("estimators") or {}).items():
        share = "no estimate" if e["share_unique"] is None else f"{e['share_unique']:.2%}"
        note = f" ({e['note']})" if e["note"] else ""
        rows.append([f"population unique, {name}", escape(share + note)])
    ld = risk.get("l_diversity")
    if ld:
        rows.append(
            [
                f"l-diversity of {escape(ld['attribute'])}, distinct / entropy",
                f"{ld['distinct_l']} / {ld['entropy_l']:.2f}",
            ]
        )
    parts = [
        "<h2>Data-set re-identification risk</h2>",
        _table(["measure", "value"], rows, {1}),
        _histogram(risk["class_sizes"], risk["k_threshold"]),
        f'<p class="muted">Quasi-identifiers: {escape(", ".join(risk["quasi_identifiers"]))}. '
        f"{escape(journalist['note'])}. {escape(risk['population']['note'])}.</p>",
    ]
    if risk.get("advice"):
        parts.append("<h3>What would lower it (each change alone)</h3><ul>")
        parts += [f"<li>{escape(line)}</li>" for line in risk["advice"]]
        parts.append("</ul>")
    return "\n".join(parts)


def _histogram(sizes: list[dict[str, int]], threshold: int) -> str:
    """Patients by class size, as bars (no script, no image): sizes 1..9 on
    their own, larger ones in decades, classes below k in red."""
    buckets: dict[str, list[int]] = {}
    for entry in sizes:
        size = entry["size"]
        label = str(size) if size < 10 else f"{10 ** (len(str(size)) - 1)}+"
        bucket = buckets.setdefault(label, [0, size])
        bucket[0] += entry["patients"]
    if not buckets:
        return ""
    top = max(count for count, _ in buckets.values())
    rows = "".join(
        f'<div class="bar"><span>{escape(label)}</span>'
        f'<i class="{"below" if first < threshold else ""}" '
        f'style="width:{max(1, round(60 * count / top))}%"></i><b>{count}</b></div>'
        for label, (count, first) in buckets.items()
    )
    return (
        '<figure class="hist"><figcaption class="muted">Patients by size of their class '
        f"(red: below k = {threshold})</figcaption>{rows}</figure>"
    )


def _findings_table(findings: list[dict[str, Any]]) -> str:
    rows = [
        [
            _sev(f["severity"]),
            f"<code>{escape(f['rule'])}</code>",
            escape(f["location"]),
            escape(f["message"]),
            escape(f.get("evidence", "")),
            escape(f["action"]),
        ]
        for f in findings
    ]
    return _table(["severity", "rule", "where", "what", "evidence", "what to do"], rows)
