"""Face results as report entries and findings, kept on disk.

An archive holds one head series per few hundred slices: 10^5 of them in
10^7 files. Each result (entry and finding) goes to a spool as it is judged
and is read back when the report is written; memory keeps only counts.
Previews are written only where asked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from deid.dicom_io import atomic_write
from deid.errors import OutputError
from deid.face.collect import safe_name
from deid.report.streamed import Streamed
from deid.risk.findings import Finding, Severity
from deid.spool import SortedSpool

if TYPE_CHECKING:
    from deid.face.assess import FaceResult

SEVERITY = {
    "none": Severity.INFO,
    "unjudged": Severity.LOW,
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
}
ADVICE = {
    "none": "",
    "unjudged": "check the series by eye: its images could not be judged, and no marker claims "
    "either way",
    "low": "defaced or brain-only: review the render if in doubt",
    "medium": "deface the series (or confirm by eye) before sharing",
    "high": "deface the series before sharing",
}
PREVIEW_NOTE = (
    "face previews are face images: written only to --face-previews DIR, never into the "
    "shared output"
)


def entry(result: FaceResult, index: int, previews: Path | None) -> dict[str, Any]:
    """The report entry of one series; its previews are written now, if asked."""
    out: dict[str, Any] = {
        "series": result.series,
        "level": result.level,
        "reasons": result.reasons,
        "measured": result.measured,
        "seconds": round(result.seconds, 3),
    }
    if result.after:
        out["deface"] = result.after
    if previews is None:
        return out
    for key, data in (("preview", result.preview), ("preview_after", result.preview_after)):
        if data is not None:
            out[key] = str(_write_preview(previews, index, result.ref, key, data))
    return out


def _write_preview(folder: Path, index: int, ref: str, key: str, data: bytes) -> Path:
    """Named by the series' keyed reference (never a UID, which may be the
    original: retain-uids, or scan), sanitised, and checked to stay in `folder`."""
    suffix = "-after" if key == "preview_after" else ""
    path = folder / f"face-{index:04d}-{safe_name(ref) or 'series'}{suffix}.png"
    folder.mkdir(parents=True, exist_ok=True)
    if path.resolve().parent != folder.resolve():
        raise OutputError(f"face preview name escapes {folder}")  # cannot happen: safe_name
    atomic_write(path, data)
    return path


def finding(report_entry: dict[str, Any], location: str | None = None) -> Finding:
    """`location`: where a scan's series is, by its first file (its entry's
    `series` is that place); a run's is the series' keyed reference."""
    level = report_entry["level"]
    return Finding(
        "face.reconstruction-risk",
        SEVERITY[level],
        f"face-reconstruction risk {level}: {'; '.join(report_entry['reasons'])}",
        location=location or f"series {report_entry['series']}",
        action=ADVICE[level],
        extra={
            k: report_entry[k]
            for k in ("measured", "seconds", "preview", "preview_after", "deface")
            if k in report_entry
        },
    )


class SeriesResults:
    """Face entries and the findings kept of them (a scan's baseline may
    accept some), in the order added, on disk.

    The spool is made in `workdir` (the system temporary folder by default)
    on the first series. Close it, or use `with`, to remove it.
    """

    def __init__(self, workdir: Path | None = None) -> None:
        self._workdir = workdir
        self._spool: SortedSpool | None = None
        self.levels: Counter[str] = Counter()

    @property
    def count(self) -> int:
        return self._spool.count if self._spool else 0

    def add(self, report_entry: dict[str, Any], findings: list[Finding]) -> None:
        if self._spool is None:
            self._spool = SortedSpool(self._workdir)
        # Keys in order of arrival: series come already sorted from the collector.
        key = f"{self._spool.count:012d}"
        self._spool.add(key, [report_entry, [f.to_dict() for f in findings]])
        self.levels[report_entry["level"]] += 1

    def entries(self) -> Iterator[dict[str, Any]]:
        return (record[0] for _, record in self._spool or ())

    def section(self) -> dict[str, Any]:
        """What a report's face section says of the series: counts per level,
        and every entry, read back from disk when the report is written."""
        return {
            "levels": dict(sorted(self.levels.items())),
            "series": Streamed(self.entries),
        }

    def findings(self) -> Iterator[dict[str, Any]]:
        return (f for _, record in self._spool or () for f in record[1])

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()

    def __enter__(self) -> SeriesResults:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
