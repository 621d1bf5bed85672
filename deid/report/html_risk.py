"""report.html's series and data-set parts: face-reconstruction risk per head
series, data-set re-identification risk, data-set findings.

Each face series is listed once, in its own table (its finding is the same
fact: it is not repeated among the data-set findings). Lists that grow with
the archive show the most serious `limit` and say how many more there are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deid.face.report import ADVICE
from deid.report.html_kit import RANK, escape, findings_table, more, sev, table, worst

_LEVEL_SEVERITY = {"none": "info", "unjudged": "low"}

FACE_RULE = "face.reconstruction-risk"


def face_section(header: dict[str, Any], limit: int) -> str:
    face = header.get("face") or {}
    series, total = worst(
        face.get("series") or (), lambda e: (-RANK.get(e["level"], 0), e["series"]), limit
    )
    if not series:
        return ""
    rows = [
        [
            sev(_LEVEL_SEVERITY.get(e["level"], e["level"])) + f" {escape(e['level'])}",
            f"<code>{escape(e['series'])}</code>",
            escape("; ".join(e["reasons"])),
            escape(ADVICE.get(e["level"], "")),
            _preview(e.get("preview")),
        ]
        for e in series
    ]
    return (
        '<section id="face"><h2>Face-reconstruction risk</h2>'
        + table(["level", "series", "why", "what to do", "preview"], rows, css="face")
        + more(len(series), total, "series")
        + f'<p class="muted">{escape(face["note"])}; this page links to them and never '
        "embeds them.</p></section>"
    )


def _preview(path: str | None) -> str:
    """A link to a preview the run wrote (outside OUT): its path as a file URI,
    percent-encoded, so no character of it acts in the link."""
    if not path:
        return ""
    try:
        uri = Path(path).resolve().as_uri()
    except ValueError:
        return escape(path)
    return f'<a href="{escape(uri)}">render</a>'


def dataset_section(header: dict[str, Any], limit: int) -> str:
    """Data-set findings other than the face series (listed above)."""
    found = (f for f in header.get("dataset_findings") or () if f["rule"] != FACE_RULE)
    shown, total = worst(
        found, lambda f: (-RANK.get(f["severity"], 0), f["rule"], f["location"]), limit
    )
    if not shown:
        return ""
    return (
        '<section id="dataset"><h2>Data-set findings</h2>'
        + findings_table(shown)
        + more(len(shown), total, "findings")
        + "</section>"
    )


def risk_section(risk: dict[str, Any]) -> str:
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
        '<section id="risk"><h2>Data-set re-identification risk</h2>',
        table(["measure", "value"], rows, frozenset({1})),
        _histogram(risk["class_sizes"], risk["k_threshold"]),
        f'<p class="muted">Quasi-identifiers: {escape(", ".join(risk["quasi_identifiers"]))}. '
        f"{escape(journalist['note'])}. {escape(risk['population']['note'])}.</p>",
    ]
    if risk.get("advice"):
        parts.append("<h3>What would lower it (each change alone)</h3><ul>")
        parts += [f"<li>{escape(line)}</li>" for line in risk["advice"]]
        parts.append("</ul>")
    parts.append("</section>")
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
