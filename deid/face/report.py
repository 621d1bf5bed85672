"""Face results as findings and report entries; previews only where asked."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from deid.dicom_io import atomic_write
from deid.risk.findings import Finding, Severity

if TYPE_CHECKING:
    from deid.face.assess import FaceResult

SEVERITY = {
    "none": Severity.INFO,
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
}
ADVICE = {
    "none": "",
    "low": "defaced or brain-only: review the render if in doubt",
    "medium": "deface the series (or confirm by eye) before sharing",
    "high": "deface the series before sharing",
}
PREVIEW_NOTE = (
    "face previews are face images: written only to --face-previews DIR, never into the "
    "shared output"
)


def entries(results: list[FaceResult], previews: Path | None) -> list[dict[str, Any]]:
    out = []
    for i, r in enumerate(results):
        entry: dict[str, Any] = {
            "series": r.series,
            "level": r.level,
            "reasons": r.reasons,
            "measured": r.measured,
            "seconds": round(r.seconds, 3),
        }
        if r.preview is not None and previews is not None:
            previews.mkdir(parents=True, exist_ok=True)
            path = previews / f"face-{i:04d}-{r.series[-24:]}.png"
            atomic_write(path, r.preview)
            entry["preview"] = str(path)
        out.append(entry)
    return out


def findings(report_entries: list[dict[str, Any]]) -> list[Finding]:
    return [
        Finding(
            "face.reconstruction-risk",
            SEVERITY[e["level"]],
            f"face-reconstruction risk {e['level']}: {'; '.join(e['reasons'])}",
            location=f"series {e['series']}",
            action=ADVICE[e["level"]],
            extra={k: e[k] for k in ("measured", "seconds", "preview") if k in e},
        )
        for e in report_entries
    ]
