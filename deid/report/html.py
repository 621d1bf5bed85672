"""report.html: the page a reviewer signs off on.

In order: the verdict (severity counts, and why the exit code is what it
is), what needs a human, every file (what was written where, what was not
and why, thumbnails of what was redacted), face risk per head series, the
data-set risk, the findings by kind. No scripts and nothing fetched from
elsewhere: only the thumbnails sit next to it (in report-thumbnails/).
Values shown are those of the report it is built from, so identifying
evidence is redacted unless the user asked to see it, and inputs are keyed
references when the report sits inside the shared output.
"""

from __future__ import annotations

from typing import Any

from deid.report import html_files, html_risk
from deid.report.html_kit import SEVERITIES, badge, escape, plural, sev, table

LISTED = 500  # face series and data-set findings on the page at most
UNPROCESSED = ("failed", "not-dicom")
EXIT_CODES = (
    "0 clean · 1 a finding at or above --fail-on (or a failed data-set gate) · "
    "2 usage or configuration error · 3 an input could not be processed"
)

STYLE = """
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;padding:0 2rem;color:#1d2330;
max-width:84rem}
h1{font-size:1.6rem;margin:0 0 .2rem} h2{font-size:1.15rem;margin:2rem 0 .5rem}
h3{font-size:1rem;margin:1rem 0 .3rem}
.muted{color:#5b6474} table{border-collapse:collapse;margin:.4rem 0 1rem;width:100%}
th,td{border-bottom:1px solid #dde2ea;padding:.3rem .6rem;text-align:left;vertical-align:top;
overflow-wrap:anywhere}
th{background:#f3f5f9} td.n{text-align:right;font-variant-numeric:tabular-nums}
table.files{table-layout:fixed} table.files tbody.file{border-top:2px solid #c9d0db}
table.files tr.detail td{border-bottom:0;padding-top:0}
code{font-size:.85rem;background:#f3f5f9;padding:0 .25rem;overflow-wrap:anywhere}
.sev,.badge{display:inline-block;border-radius:.7rem;padding:0 .55rem;font-size:.8rem;
color:#fff;white-space:nowrap}
.high{background:#c62828}.medium{background:#e08a00}.low{background:#2f6db5}.info{background:#6b7380}
.badge.written{background:#2e7d32}.badge.dry-run{background:#2f6db5}
.badge.failed,.badge.not-dicom{background:#c62828}.badge.withheld{background:#8e24aa}
.badge.skipped,.badge.scanned{background:#6b7380}
.cards{display:flex;gap:1rem;flex-wrap:wrap;align-items:stretch}
.card{border:1px solid #dde2ea;border-radius:.5rem;padding:.7rem 1rem;min-width:8rem}
.card b{display:block;font-size:1.5rem} .card.exit{border-color:#1d2330}
p.exit{font-size:1rem;margin:.8rem 0 .2rem} p.reason{margin:.2rem 0}
ul.review li{margin:.25rem 0} details{margin:.3rem 0} summary{cursor:pointer}
.thumbs{display:flex;flex-wrap:wrap;gap:.6rem;align-items:flex-start;margin:.3rem 0}
.thumbs p{flex-basis:100%;margin:0}
figure.thumb{margin:0;font-size:.75rem;color:#5b6474}
.crop{position:relative;display:inline-block;line-height:0;background:#000}
.crop img{max-width:100%;height:auto}
.crop i{position:absolute;outline:2px dashed #ffb300;outline-offset:1px}
.hist{margin:.5rem 0 1rem;max-width:36rem}
.bar{display:flex;align-items:center;gap:.5rem;font-size:.85rem;line-height:1.3}
.bar span{width:3rem;text-align:right} .bar i{height:.8rem;background:#2f6db5;display:block}
.bar i.below{background:#c62828} .bar b{font-weight:400}
"""


def render(
    header: dict[str, Any],
    files: list[dict[str, Any]],
    title: str = "deid scan report",
    notable: int | None = None,
) -> str:
    """`files` are the entries to list (the worst ones); `notable` is how many
    files the report holds that the page could list, so it says what it left out."""
    risk = header.get("dataset_risk")
    parts = [
        _verdict(header, title),
        _review(header),
        html_files.section(header, files, notable),
        html_risk.face_section(header, LISTED),
        html_risk.risk_section(risk) if risk else "",
        html_risk.dataset_section(header, LISTED),
        _kinds(header),
    ]
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>"
        + "\n".join(p for p in parts if p)
        + "</body></html>\n"
    )


def _verdict(header: dict[str, Any], title: str) -> str:
    """Who made it and how, where things are, the counts and the exit code."""
    profile = header.get("profile")
    name = profile.get("name") if isinstance(profile, dict) else profile
    made = [f"deid {escape(header['tool']['version'])}", f"profile <code>{escape(name)}</code>"]
    if header.get("key"):
        made.append(f"key: {escape(header['key'])}")
    if header.get("dry_run"):
        made.append("<b>dry run</b>: nothing was written")
    return (
        f'<section id="verdict"><h1>{escape(title)}</h1>'
        f'<p class="muted">{" &middot; ".join(made)}</p>{_where(header)}'
        f'<div class="cards">{_cards(header)}</div>'
        f'<p class="exit">{escape(explain_exit(header))}</p>'
        f'<p class="muted">Exit codes: {escape(EXIT_CODES)}.</p></section>'
    )


def _where(header: dict[str, Any]) -> str:
    if not header["schema"].startswith("deid-report"):
        return '<p class="muted">A scan reads its inputs and writes nothing next to them.</p>'
    root = header.get("output_root")
    outputs = f"outputs are under {root}" if root else "outputs are under OUT"
    return f'<p class="muted">Inputs are {escape(header.get("inputs", ""))}; {escape(outputs)}.</p>'


def _cards(header: dict[str, Any]) -> str:
    totals = header["totals"]
    severities = totals.get("findings_by_severity", {})
    cards = [
        f'<div class="card">{sev(s)}<b>{severities.get(s, 0)}</b>findings</div>'
        for s in SEVERITIES
    ]
    statuses = ", ".join(f"{escape(k)} {v}" for k, v in totals.get("by_status", {}).items())
    cards.append(f'<div class="card">files<b>{totals["files"]}</b>{statuses}</div>')
    cards.append(f'<div class="card exit">exit code<b>{escape(header.get("exit_code"))}</b></div>')
    return "".join(cards)


def explain_exit(header: dict[str, Any]) -> str:
    """Why the exit code is what it is, from the same totals that made it."""
    text = _exit_reason(header)
    gate = header.get("dataset_gate")
    if gate is not None and not gate.get("failed"):
        gated = gate.get("max_risk") is not None or gate.get("fail_on_dataset")
        text += (
            " The data-set risk has its own gate (--max-risk, --fail-on-dataset): "
            + ("passed." if gated else "not set, so it is reported, not gated.")
        )
    return text


def _exit_reason(header: dict[str, Any]) -> str:
    code = header.get("exit_code")
    totals = header["totals"]
    fail_on = header.get("fail_on", "high")
    alarms = totals.get("at_or_above_fail_on", 0)
    reached = f"{plural(alarms, 'finding')} at or above --fail-on {fail_on}"
    statuses = totals.get("by_status", {})
    gate = (header.get("dataset_gate") or {}).get("failed")
    if code == 3:
        unprocessed = {s: statuses[s] for s in UNPROCESSED if statuses.get(s)}
        which = ", ".join(f"{s} {n}" for s, n in unprocessed.items())
        text = f"Exit code 3: {plural(sum(unprocessed.values()), 'input')} could not be processed"
        text += f" ({which})." if which else "."
        if alarms:
            text += f" {reached} would give exit code 1; an unprocessed input comes first."
        return text
    if code == 1:
        reasons = [reached] if alarms else []
        if statuses.get("withheld"):
            reasons.append(f"{plural(statuses['withheld'], 'output')} withheld")
        if gate:
            reasons.append(f"the data-set risk gate failed ({gate})")
        return "Exit code 1: " + "; ".join(reasons or ["findings at or above --fail-on"]) + "."
    if code == 0:
        return (
            f"Exit code 0: every input was processed and no finding is at or above "
            f"--fail-on {fail_on}."
        )
    return f"Exit code {code}."


def _review(header: dict[str, Any]) -> str:
    """What a person must look at before the output is shared."""
    totals = header["totals"]
    statuses = totals.get("by_status", {})
    items = []
    unprocessed = sum(statuses.get(s, 0) for s in UNPROCESSED)
    if unprocessed:
        items.append(
            f"{badge('failed')} {plural(unprocessed, 'file')} could not be processed: each "
            '<a href="#files">row</a> says why.'
        )
    if statuses.get("withheld"):
        items.append(
            f"{badge('withheld')} {plural(statuses['withheld'], 'file')} withheld: identifying "
            'values or text remained after de-identification, so nothing was written (<a '
            'href="#files">rows</a> and findings say which).'
        )
    items += [_to_review(item) for item in totals.get("to_review", [])]
    face = header.get("face") or {}
    if face and not face.get("checked", True):
        items.append("Face-reconstruction risk of head CT/MR was not checked (--face off).")
    if not items:
        items.append("Nothing: every input was processed and no finding is medium or high.")
    lines = "".join(f"<li>{item}</li>" for item in items)
    return f'<section id="review"><h2>Needs a human</h2><ul class="review">{lines}</ul></section>'


def _to_review(item: dict[str, Any]) -> str:
    rule = item["rule"]
    where = {"face": "face", "dataset": "risk"}.get(rule.partition(".")[0], "files")
    action = f": {escape(item['action'])}" if item.get("action") else ""
    return (
        f'{sev(item["severity"])} <code>{escape(rule)}</code> &times;{item["count"]}{action} '
        f'(<a href="#{where}">where</a>)'
    )


def _kinds(header: dict[str, Any]) -> str:
    by_rule = header["totals"].get("findings_by_rule", {})
    if not by_rule:
        return ""
    rows = [
        [f"<code>{escape(r)}</code>", str(c)]
        for r, c in sorted(by_rule.items(), key=lambda x: -x[1])
    ]
    return (
        '<section id="kinds"><h2>Findings by kind</h2>'
        + table(["rule", "findings"], rows, frozenset({1}))
        + "</section>"
    )
