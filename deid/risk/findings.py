"""The one findings stream every step writes to.

Reports (json now; csv, html, sarif later) are views of a list of these, so
a finding carries everything a reader needs: what, where, how bad, what was
done. The fingerprint is stable across runs, profiles and the way a path was typed,
so baselines can accept it.
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
    # The file's place as a baseline knows it (deid.scan.scope_of: its path
    # below the working folder, else its full path), the same however it
    # was reached, so a baseline written once keeps matching.
    scope: str = ""

    @property
    def fingerprint(self) -> str:
        """Same finding, same id: the rule, its severity, the file's place
        and the location only, never the wording (which names the profile)
        nor the evidence (which may be PHI). The severity is in it so that a
        baseline that accepted a low finding does not accept a high one in
        its place (a defaced series re-exported intact)."""
        raw = "\x1f".join((self.rule, str(self.severity), self.scope or self.file, self.location))
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
        if self.scope:
            data["scope"] = self.scope
        data["fingerprint"] = self.fingerprint
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        fields = {k: v for k, v in data.items() if k != "fingerprint"}
        fields.setdefault("scope", "")
        fields["severity"] = Severity.parse(fields["severity"])
        return cls(**fields)
