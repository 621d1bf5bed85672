"""SARIF 2.1.0 view of findings, for code-scanning tools (GitHub, GitLab...)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from deid import __version__
from deid.risk.findings import Finding, Severity

SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
LEVEL = {
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}


def build(findings: Iterable[Finding]) -> dict[str, Any]:
    findings = list(findings)
    rules: dict[str, int] = {}
    rule_objects = []
    results = []
    for f in findings:
        if f.rule not in rules:
            rules[f.rule] = len(rule_objects)
            rule_objects.append(
                {
                    "id": f.rule,
                    "name": f.rule.replace(".", "-"),
                    "shortDescription": {"text": f.message.split(":")[0][:200]},
                    "defaultConfiguration": {"level": LEVEL[f.severity]},
                }
            )
        result: dict[str, Any] = {
            "ruleId": f.rule,
            "ruleIndex": rules[f.rule],
            "level": LEVEL[f.severity],
            "message": {"text": f"{f.message}. {f.action}".strip(". ") + "."},
            "partialFingerprints": {"deidFingerprint/v1": f.fingerprint},
            "properties": {"severity": str(f.severity)},
        }
        location: dict[str, Any] = {}
        if f.file:
            location["physicalLocation"] = {"artifactLocation": {"uri": f.file}}
        if f.location:
            location["logicalLocations"] = [{"fullyQualifiedName": f.location, "kind": "member"}]
        if location:
            result["locations"] = [location]
        results.append(result)
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "deid",
                        "version": __version__,
                        "informationUri": "https://github.com/deid/deid",
                        "rules": rule_objects,
                    }
                },
                "results": results,
            }
        ],
    }
