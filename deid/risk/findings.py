"""The one findings stream every step writes to.

Reports (json now; csv, html, sarif later) are views of a list of these, so
a finding carries everything a reader needs: what, where, how bad, what was
done. The fingerprint is stable across runs so baselines can accept it.
"""

from __future__ import annotations

import hashlib
from copy import deepcopy
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any


class Severity(IntEnum):
    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3

    @classmethod
    def parse(cls, text: str) -> Severity:
        return cls[text.upper()]

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Severity
    message: str
    file: str = ""
    location: str = ""
    action: str = ""
    evidence: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        """Same finding, same id: excludes the evidence, which may be PHI."""
        raw = "\x1f".join((self.rule, self.file, self.location, self.message))
        return hashlib.sha256(raw.encode("utf-8", "surrogateescape")).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "rule": self.rule,
            "severity": str(self.severity),
            "message": self.message,
            "file": self.file,
            "location": self.location,
            "action": self.action,
            "evidence": self.evidence,
        }
        if self.extra:
            data["extra"] = deepcopy(self.extra)
        data["fingerprint"] = self.fingerprint
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        fields = {k: v for k, v in data.items() if k != "fingerprint"}
        fields["severity"] = Severity.parse(fields["severity"])
        return cls(**fields)
