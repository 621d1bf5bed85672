"""One Patient ID issued by two issuers: two people under one pseudonym.

A patient is keyed by its Patient ID (deid.scrub.patient_key), not by the
Issuer of Patient ID beside it: keying on the issuer would split a patient
whose files carry it only sometimes. Two sites that issue the same ID to
two people are then one pseudonym, one date shift and one output folder.
That cannot be undone after the run, so it is said: a high data-set finding
per such ID, naming its pseudonym.

The IDs and issuers seen are kept as keyed digests (a random key of this
run) in SQLite's anonymous temporary database: memory does not grow with
the batch, and no original value is written anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from deid.first_seen import FirstSeen
from deid.report.json_report import ReportBuilder
from deid.results import FileResult
from deid.risk.findings import Finding, Severity

RULE = "patient.id-issuers"


class IdIssuers:
    """Each Patient ID's first issuer; a second one is a finding, once."""

    def __init__(self, report: ReportBuilder) -> None:
        self.report = report
        self._key = os.urandom(32)
        self._seen = FirstSeen()

    def _digest(self, value: str) -> bytes:
        return hmac.new(
            self._key, value.encode("utf-8", "surrogateescape"), hashlib.sha256
        ).digest()

    def add(self, result: FileResult) -> None:
        if result.patient is None or not result.issuer:
            return  # an ID without an issuer: nothing to tell apart
        ident, issuer = self._digest(result.patient[0]), self._digest(result.issuer)
        if self._seen.differs(ident, issuer) is not None:
            self.report.add_dataset_finding(_finding(result.patient[1]))

    def finish(self) -> None:
        pass

    def close(self) -> None:
        self._seen.close()


def _finding(pseudonym: str) -> Finding:
    return Finding(
        RULE,
        Severity.HIGH,
        f"the Patient ID of {pseudonym} is issued by more than one Issuer of Patient ID: "
        "their patients share this pseudonym, its date shift and output folder",
        location="IssuerOfPatientID",
        action="de-identify each issuer's files in a run of their own, or prefix their "
        "Patient IDs by issuer first",
        evidence=pseudonym,
    )
