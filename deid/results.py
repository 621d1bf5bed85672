"""What one file's processing produced: its status, output, findings, changes.

Shared by the per-file step (`deid.process`), the batch (`deid.pipeline`),
the collectors and the reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from operator import itemgetter
from typing import Any

from deid.face.geometry import SliceGeometry
from deid.pixels.series import RawLayout
from deid.risk.findings import Finding


class Status(StrEnum):
    """A file's outcome. Only WRITTEN and DRY_RUN count as processed."""

    WRITTEN = "written"
    DRY_RUN = "dry-run"
    FAILED = "failed"
    NOT_DICOM = "not-dicom"
    WITHHELD = "withheld"
    SKIPPED = "skipped"

    @property
    def unprocessed(self) -> bool:
        """An input that could not be processed (exit code 3)."""
        return self in (Status.FAILED, Status.NOT_DICOM)

    @property
    def produced(self) -> bool:
        """An output exists (or would, in a dry run)."""
        return self in (Status.WRITTEN, Status.DRY_RUN)


UNPROCESSED = (Status.FAILED, Status.NOT_DICOM)


@dataclass(frozen=True)
class Thumbnail:
    """A small picture of one redacted area, cut from the output's pixels for
    the reviewer's page (deid.report.thumbnails). `png` travels from the
    worker to the report once and is never recorded; the rest is, so a
    resumed run still shows the picture an earlier run wrote."""

    name: str  # file name next to the report: a hash of output and place, no value
    frame: int
    crop: tuple[int, int, int, int]  # x, y, w, h of the picture in the output frame
    box: tuple[int, int, int, int]  # the redacted area, in the same frame
    png: bytes = b""

    def record(self) -> dict[str, Any]:
        return {"name": self.name, "frame": self.frame, "crop": self.crop, "box": self.box}

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Thumbnail:
        return cls(data["name"], data["frame"], tuple(data["crop"]), tuple(data["box"]))


@dataclass
class FileResult:
    input: str
    status: Status
    output: str = ""
    reason: str = ""
    size: int = 0
    mtime_ns: int = 0
    output_size: int = 0
    findings: list[Finding] = field(default_factory=list)
    changes: list[dict[str, str]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    summary: dict[str, str] = field(default_factory=dict)
    # Linkage: never written to the journal or the report, only to --mapping-dir.
    uid_map: dict[str, str] = field(default_factory=dict)
    patient: tuple[str, str] | None = None
    issuer: str = ""  # IssuerOfPatientID, for deid.id_issuers; in memory only
    # Face check: slice geometry of head CT/MR/PT files (input path inside:
    # kept in memory for the series step, never written).
    geometry: SliceGeometry | None = None
    # Pictures of the redacted areas (none unless the output is written).
    thumbnails: list[Thumbnail] = field(default_factory=list)
    # Sampled series: where the output's raw pixels are (in memory only; a
    # resumed file's is found again from its output).
    pixel_layout: RawLayout | None = None
    # Known from the journal of an earlier run of the same command: its output
    # stands and it was not processed again (in memory only; counted).
    resumed: bool = False
    # Another input holds the same object (deid.claims): the one written.
    # Named in the report as inputs are (a keyed reference unless paths may show).
    earlier: str = ""

    def record(self, label: str) -> dict[str, Any]:
        """What may be stored next to the outputs: no linkage, no PHI values,
        and the input named by `label` (a keyed reference unless paths may show)."""
        return {
            "input": label,
            "status": str(self.status),
            "output": self.output,
            "reason": self.reason,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "output_size": self.output_size,
            "findings": [relabel(redacted(f), label).to_dict() for f in self.findings],
            "changes": self.changes,
            "counts": self.counts,
            "summary": self.summary,
            "thumbnails": [t.record() for t in self.thumbnails],
        }

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> FileResult:
        data = dict(data)
        data["findings"] = [Finding.from_dict(f) for f in data.get("findings", [])]
        data["thumbnails"] = [Thumbnail.from_record(t) for t in data.get("thumbnails", [])]
        data["status"] = Status(data["status"])
        return cls(**data)


CHANGE_FIELDS = ("path", "action", "code", "why")


_CHANGE_FIELDS = itemgetter(*CHANGE_FIELDS)


def change_key(changes: list[dict[str, str]]) -> tuple[tuple[str, ...], ...]:
    """A hashable identity for a list of changes, to share identical lists
    (asked up to three times per file in the main process: kept cheap)."""
    return tuple(map(_CHANGE_FIELDS, changes))


def relabel(finding: Finding, label: str) -> Finding:
    return replace(finding, file=label) if finding.file else finding


def redacted(finding: Finding) -> Finding:
    if not finding.evidence:
        return finding
    return replace(finding, evidence=f"<redacted: {len(finding.evidence)} characters>")
