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

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import groupby, islice
from operator import itemgetter
from pathlib import Path

from deid.spool import SortedSpool

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


RECENT = 4096  # distinct (patient, values) rows remembered to skip repeats


def patient_records(
    rows: Iterable[tuple[str, Mapping[str, str]]],
    quasi_identifiers: Iterable[str],
    rare_only: Iterable[str] = (),
    threshold: int = 5,
    workdir: Path | None = None,
) -> Iterator[tuple[str, Record]]:
    """Fold per-file values into one record per patient, in patient order.

    A patient whose files disagree (two study years, two scanners) is known
    by all the values together, which is what an attacker could match on.
    Attributes in `rare_only` (free-text descriptions) count only with values
    that fewer than `threshold` patients share: a common protocol name says
    nothing, a one-off one points at a person.

    An archive holds 10^5 patients and more, so nothing here is kept per
    patient in memory: rows wait in sorted spools on disk (in `workdir`, the
    system temporary folder by default) and come back one patient at a time.
    """
    names = tuple(quasi_identifiers)
    rare_names = set(rare_only)
    rare = [i for i, name in enumerate(names) if name in rare_names]
    with (
        SortedSpool(workdir) as facts,
        SortedSpool(workdir) as uses,
        SortedSpool(workdir) as kept,
    ):
        recent: set[tuple[str, tuple[str, ...], str]] = set()
        for patient, values in rows:
            row = (patient, tuple(values.get(name, "") for name in names), values.get("_study", ""))
            if row in recent:
                continue  # the other slices of a series say the same
            if len(recent) >= RECENT:
                recent.clear()
            recent.add(row)
            facts.add(patient, row[1:])
        slots = _slots(facts, len(names))
        if rare:
            # Patients per rare-attribute value, then the (patient, value) pairs
            # that stay because fewer than `threshold` patients share the value.
            for patient, (slot, _) in slots:
                for i in rare:
                    for value in slot[i]:
                        uses.add(json.dumps([i, value]), patient)
            for key, group in groupby(uses, key=itemgetter(0)):
                # Each patient lists a value once; a common value (thousands
                # of patients) is counted, never held.
                users = list(islice((patient for _, patient in group), threshold))
                if len(users) < threshold:
                    for patient in users:
                        kept.add(patient, json.loads(key))
            slots = _with_rare(_slots(facts, len(names)), kept, rare)
        for patient, (slot, studies) in slots:
            record = [(name, "|".join(sorted(slot[i]))) for i, name in enumerate(names)]
            record.append(("study_count", str(len(studies))))
            yield patient, tuple(record)


Slot = tuple[list[set[str]], set[str]]  # values per quasi-identifier, study UIDs


def _slots(facts: SortedSpool, width: int) -> Iterator[tuple[str, Slot]]:
    for patient, group in groupby(facts, key=itemgetter(0)):
        slot: list[set[str]] = [set() for _ in range(width)]
        studies: set[str] = set()
        for _, (values, study) in group:
            for i, value in enumerate(values):
                if value:
                    slot[i].add(value)
            if study:
                studies.add(study)
        yield patient, (slot, studies)


def _with_rare(
    slots: Iterator[tuple[str, Slot]], kept: SortedSpool, rare: list[int]
) -> Iterator[tuple[str, Slot]]:
    """Rare attributes keep only the values listed for the patient in `kept`
    (both streams are in patient order)."""
    listed = groupby(kept, key=itemgetter(0))
    current = next(listed, None)
    for patient, (slot, studies) in slots:
        while current is not None and current[0] < patient:
            current = next(listed, None)
        keep: set[tuple[int, str]] = set()
        if current is not None and current[0] == patient:
            keep = {(i, value) for _, (i, value) in current[1]}
        for i in rare:
            slot[i] = {value for value in slot[i] if (i, value) in keep}
        yield patient, (slot, studies)


def summarise(
    records: Iterable[Record],
    threshold: int = 5,
    quasi_identifiers: Iterable[str] = (),
    workdir: Path | None = None,
) -> RiskSummary:
    """Class sizes come from records sorted on disk, so a batch of any size is
    summarised in bounded memory. Each record's prosecutor risk is 1/|class|,
    so their average is classes / records."""
    n = classes = below = 0
    k = 0
    with SortedSpool(workdir) as spool:
        for record in records:
            spool.add(json.dumps(record, ensure_ascii=False), 0)
        for _, group in groupby(spool, key=itemgetter(0)):
            size = sum(1 for _ in group)
            n += size
            classes += 1
            k = size if classes == 1 else min(k, size)
            if size < threshold:
                below += size
    if n == 0:
        return RiskSummary(
            0, 0, 0, threshold, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, tuple(quasi_identifiers)
        )
    return RiskSummary(
        records=n,
        classes=classes,
        k=k,
        threshold=threshold,
        below_k_share=below / n,
        prosecutor_max=1 / k,
        prosecutor_avg=classes / n,
        journalist_max=1 / k,
        journalist_avg=classes / n,
        marketer=classes / n,
        quasi_identifiers=tuple(quasi_identifiers),
    )
