"""SARIF 2.1.0 view of findings, for code-scanning tools (GitHub, GitLab...).

Streamed: the rule table is collected in a first pass over the findings and
each result is written as it is read in a second, so the file of a batch
with millions of findings is written in bounded memory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from typing import Any, TextIO
from urllib.parse import quote

from deid import __version__
from deid.report.streamed import dumps
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


def write(fh: TextIO, findings: Callable[[], Iterable[Finding]]) -> None:
    """`findings` is called twice and must give the same findings each time."""
    rules: dict[str, int] = {}
    rule_objects = []
    for f in findings():
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
    driver = {
        "name": "deid",
        "version": __version__,
        "informationUri": "https://github.com/deid/deid",
        "rules": rule_objects,
    }
    fh.write(
        f'{{"$schema": {json.dumps(SCHEMA)}, "version": "2.1.0", "runs": [\n'
        f'{{"tool": {{"driver": {dumps(driver)}}}, "results": [\n'
    )
    first = True
    for f in findings():
        fh.write(("" if first else ",\n") + dumps(_result(f, rules)))
        first = False
    fh.write("\n]}]}\n")


def _result(f: Finding, rules: dict[str, int]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": f.rule,
        "ruleIndex": rules[f.rule],
        "level": LEVEL[f.severity],
        "message": {"text": f"{f.message}. {f.action}".strip(". ") + "."},
        "partialFingerprints": {"deidFingerprint/v3": f.fingerprint},
        "properties": {"severity": str(f.severity)},
    }
    location: dict[str, Any] = {}
    if f.file:
        location["physicalLocation"] = {"artifactLocation": {"uri": uri(f.file)}}
    if f.location:
        location["logicalLocations"] = [{"fullyQualifiedName": f.location, "kind": "member"}]
    if location:
        result["locations"] = [location]
    return result


def uri(path: str) -> str:
    """A SARIF artifact URI (a URI reference, RFC 3986) for a file name:
    spaces, `#`, `%`, `?` and non-ASCII are percent-encoded from the name's
    bytes, so a name that is not UTF-8 keeps its exact bytes."""
    return quote(os.fsencode(path), safe="/")
