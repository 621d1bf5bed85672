"""One study under two patient pseudonyms: its files disagree on who it is.

A patient is keyed by its Patient ID, else its name and birth date
(deid.scrub.patient_key). Files of one study that disagree there (an SR
written without the Patient ID its images carry, a study merged from two
patients' files) get two pseudonyms: two output folders and two date
shifts, so the study's own dates no longer agree. That cannot be mended
after the run, so it is said: a medium data-set finding per such study.

Only pseudonymised values (the output's study UID and patient pseudonym)
are kept, in SQLite's anonymous temporary database: memory does not grow
with the batch.
"""

from __future__ import annotations

from deid.first_seen import FirstSeen
from deid.report.json_report import ReportBuilder
from deid.results import FileResult
from deid.risk.findings import Finding, Severity

RULE = "study.patients"


class StudyPatients:
    """Each study's first patient pseudonym; a second one is a finding, once."""

    def __init__(self, report: ReportBuilder) -> None:
        self.report = report
        self._seen = FirstSeen()

    def add(self, result: FileResult) -> None:
        if not result.status.produced:
            return
        study, patient = result.summary.get("study", ""), result.summary.get("patient", "")
        if not study or study == "no-study" or not patient:
            return
        first = self._seen.differs(study, patient)
        if first is not None:
            self.report.add_dataset_finding(_finding(study, str(first), patient))

    def finish(self) -> None:
        pass

    def close(self) -> None:
        self._seen.close()


def _finding(study: str, first: str, other: str) -> Finding:
    return Finding(
        RULE,
        Severity.MEDIUM,
        f"study {study} is written under more than one patient pseudonym ({first}, {other}): "
        "its files disagree on the Patient ID (or lack it, and are known by name and birth "
        "date), so they are in two patient folders and their dates are shifted differently",
        location="PatientID",
        action="give every file of the study the same Patient ID before de-identifying it",
        evidence=study,
    )
