"""What de-identifying one document produced: new bytes, or nothing.

`data is None` means withhold: the caller must not write the file (and
must never fall back to writing zeros or the original). The findings say
what was found and done; the description is the one line a report shows.
"""

from __future__ import annotations

from dataclasses import dataclass

from deid.risk.findings import Finding, Severity

LOCATION = "EncapsulatedDocument"


@dataclass(frozen=True)
class DocumentOutcome:
    data: bytes | None  # the de-identified document; None: withhold the file
    findings: tuple[Finding, ...]
    description: str  # one line: what was done, or why it was withheld

    @property
    def withheld(self) -> bool:
        return self.data is None


def deidentified(
    label: str,
    data: bytes,
    description: str,
    findings: tuple[Finding, ...] = (),
    extra: dict | None = None,
) -> DocumentOutcome:
    """The document written as `data`, with one finding that says what was done."""
    finding = Finding(
        "document.deidentified",
        Severity.INFO,
        description,
        file=label,
        location=LOCATION,
        action="document de-identified",
        extra=extra or {},
    )
    return DocumentOutcome(data, (*findings, finding), description)


def withheld(
    label: str,
    reason: str,
    rule: str = "document.withheld",
    severity: Severity = Severity.MEDIUM,
    findings: tuple[Finding, ...] = (),
) -> DocumentOutcome:
    """Withhold with one finding that says why (a withheld file is lost
    data the user has to act on, not a leak: medium unless the reason is
    identifying text that could not be removed)."""
    finding = Finding(
        rule,
        severity,
        f"encapsulated document withheld: {reason}",
        file=label,
        location=LOCATION,
        action="output withheld",
    )
    return DocumentOutcome(None, (*findings, finding), f"withheld: {reason}")
