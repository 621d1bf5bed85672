"""Dataset-level re-identification risk over quasi-identifiers.

One record per patient (values of the quasi-identifiers that remain, with
per-patient study counts); patients with identical records form an
equivalence class. The measures follow ARX's attacker models:

- k-anonymity: the size of the smallest class;
- prosecutor risk: the attacker knows the person is in the data; risk of a
  record is 1/|its class|; reported as the maximum and the average;
- journalist risk: the attacker does not know; without a population table
  the sample is taken as the population, so it equals prosecutor risk (said
  so in the report);
- marketer risk: expected share re-identified when attacking everyone,
  number of classes / number of records.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

Record = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class RiskSummary:
    records: int
    classes: int
    k: int
    threshold: int
    below_k_share: float
    prosecutor_max: float
    prosecutor_avg: float
    journalist_max: float
    journalist_avg: float
    marketer: float
    quasi_identifiers: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "records": self.records,
            "equivalence_classes": self.classes,
            "k_anonymity": self.k,
            "k_threshold": self.threshold,
            "share_below_k": round(self.below_k_share, 6),
            "prosecutor_risk": {
                "max": round(self.prosecutor_max, 6),
                "average": round(self.prosecutor_avg, 6),
            },
            "journalist_risk": {
                "max": round(self.journalist_max, 6),
                "average": round(self.journalist_avg, 6),
                "note": "no population table: the data set is taken as the population",
            },
            "marketer_risk": round(self.marketer, 6),
            "quasi_identifiers": list(self.quasi_identifiers),
        }


def patient_records(
    rows: Iterable[tuple[str, Mapping[str, str]]],
    quasi_identifiers: Iterable[str],
    rare_only: Iterable[str] = (),
    threshold: int = 5,
) -> dict[str, Record]:
    """Fold per-file values into one record per patient.

    A patient whose files disagree (two study years, two scanners) is known
    by all the values together, which is what an attacker could match on.
    Attributes in `rare_only` (free-text descriptions) count only with values
    that fewer than `threshold` patients share: a common protocol name says
    nothing, a one-off one points at a person.
    """
    names = tuple(quasi_identifiers)
    seen: dict[str, dict[str, set[str]]] = {}
    studies: dict[str, set[str]] = {}
    for patient, values in rows:
        slot = seen.setdefault(patient, {name: set() for name in names})
        for name in names:
            value = values.get(name, "")
            if value:
                slot[name].add(value)
        if values.get("_study"):
            studies.setdefault(patient, set()).add(values["_study"])
    for name in set(rare_only) & set(names):
        users = Counter(v for slot in seen.values() for v in slot[name])
        for slot in seen.values():
            slot[name] = {v for v in slot[name] if users[v] < threshold}
    records = {}
    for patient, slot in seen.items():
        record = [(name, "|".join(sorted(slot[name]))) for name in names]
        record.append(("study_count", str(len(studies.get(patient, ())))))
        records[patient] = tuple(record)
    return records


def summarise(
    records: Mapping[str, Record], threshold: int = 5, quasi_identifiers: Iterable[str] = ()
) -> RiskSummary:
    sizes = Counter(records.values())
    n = len(records)
    if n == 0:
        return RiskSummary(
            0, 0, 0, threshold, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, tuple(quasi_identifiers)
        )
    per_record = [1 / sizes[r] for r in records.values()]
    prosecutor_max = max(per_record)
    prosecutor_avg = sum(per_record) / n
    below = sum(1 for r in records.values() if sizes[r] < threshold)
    return RiskSummary(
        records=n,
        classes=len(sizes),
        k=min(sizes.values()),
        threshold=threshold,
        below_k_share=below / n,
        prosecutor_max=prosecutor_max,
        prosecutor_avg=prosecutor_avg,
        journalist_max=prosecutor_max,
        journalist_avg=prosecutor_avg,
        marketer=len(sizes) / n,
        quasi_identifiers=tuple(quasi_identifiers),
    )
