"""Data-set re-identification risk: patients, classes and the sample's figures.

One record per patient (values of the quasi-identifiers that remain, with
per-patient study counts); patients with identical records form an
equivalence class. The figures here need no population model:

- k-anonymity: the size of the smallest class; share of patients in classes
  smaller than the threshold; sample uniques (classes of one);
- prosecutor risk (ARX's attacker model: the attacker knows the person is in
  the data): a record's risk is 1/|its class|, reported as the maximum and
  the average (over patients, and over classes as pyCANON does);
- marketer risk: expected share re-identified when attacking everyone,
  number of classes / number of records;
- the class-size distribution, and l-diversity of a sensitive attribute.

Journalist risk and population uniqueness need a population model: see
`deid.risk.population`.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import groupby, islice
from operator import itemgetter
from pathlib import Path

from deid.spool import SortedSpool

# One file's value of one quasi-identifier: a tuple of parts (Device has four:
# manufacturer, model, station, serial), never parts joined into one text.
Value = tuple[str, ...]
# A patient's distinct values of one quasi-identifier, sorted.
Values = tuple[Value, ...]
# One patient: (name, values) per quasi-identifier, then the study count.
Record = tuple[tuple[str, Values], ...]
STUDY_COUNT = "study_count"


@dataclass(frozen=True)
class LDiversity:
    """How varied a sensitive attribute is within each class (Machanavajjhala
    et al. 2007): distinct l is the fewest distinct values in a class, entropy
    l the smallest exp(entropy) of a class's values. A class whose patients
    all share one value discloses it to anyone who finds the class."""

    attribute: str
    distinct: int
    entropy: float
    homogeneous_share: float  # patients in classes with a single sensitive value

    def to_dict(self) -> dict[str, object]:
        return {
            "attribute": self.attribute,
            "distinct_l": self.distinct,
            "entropy_l": round(self.entropy, 6),
            "share_in_single_value_classes": round(self.homogeneous_share, 6),
        }


@dataclass(frozen=True)
class RiskSummary:
    """The sample's own figures: everything here is exact, no model involved."""

    records: int
    classes: int
    k: int
    threshold: int
    below_k: int  # patients in classes smaller than the threshold
    histogram: tuple[tuple[int, int], ...]  # (class size, number of classes), by size
    quasi_identifiers: tuple[str, ...]
    l_diversity: LDiversity | None = None

    @property
    def below_k_share(self) -> float:
        return self.below_k / self.records if self.records else 0.0

    @property
    def sample_uniques(self) -> int:
        """Patients alone in their class (classes of size 1)."""
        return dict(self.histogram).get(1, 0)

    @property
    def prosecutor_max(self) -> float:
        return 1 / self.k if self.k else 0.0

    @property
    def prosecutor_avg(self) -> float:
        """Average over patients of 1/|class|: classes / records."""
        return self.classes / self.records if self.records else 0.0

    @property
    def prosecutor_avg_classes(self) -> float:
        """Average over classes of 1/|class| (pyCANON's "average risk")."""
        if not self.classes:
            return 0.0
        return sum(count / size for size, count in self.histogram) / self.classes

    @property
    def marketer(self) -> float:
        """Expected share re-identified when every record is attacked."""
        return self.prosecutor_avg

    def to_dict(self) -> dict[str, object]:
        n = self.records
        return {
            "records": n,
            "equivalence_classes": self.classes,
            "k_anonymity": self.k,
            "k_threshold": self.threshold,
            "share_below_k": round(self.below_k_share, 6),
            "sample_uniques": self.sample_uniques,
            "share_sample_uniques": round(self.sample_uniques / n, 6) if n else 0.0,
            "class_sizes": [
                {"size": size, "classes": count, "patients": size * count}
                for size, count in self.histogram
            ],
            "prosecutor_risk": {
                "max": round(self.prosecutor_max, 6),
                "average": round(self.prosecutor_avg, 6),
                "average_over_classes": round(self.prosecutor_avg_classes, 6),
                "note": "average: over patients (= classes / patients, as ARX); "
                "average_over_classes: over classes (as pyCANON's average_rir)",
            },
            "marketer_risk": round(self.marketer, 6),
            "quasi_identifiers": list(self.quasi_identifiers),
            "l_diversity": self.l_diversity.to_dict() if self.l_diversity else None,
        }


RECENT = 4096  # distinct (patient, values) rows remembered to skip repeats


def patient_records(
    rows: Iterable[tuple[str, Mapping[str, Value | str]]],
    quasi_identifiers: Iterable[str],
    rare_only: Iterable[str] = (),
    threshold: int = 5,
    workdir: Path | None = None,
) -> Iterator[tuple[str, Record]]:
    """Fold per-file values into one record per patient, in patient order.

    A patient whose files disagree (two study years, two scanners) is known
    by all the values together, which is what an attacker could match on.
    They stay a set of tuples: joined into one text, {ACME, model Z} on one
    scanner and {ACME} plus {Z} on two would read the same and merge two
    patients who differ. Attributes in `rare_only` (free-text descriptions)
    count only with values that fewer than `threshold` patients share: a
    common protocol name says nothing, a one-off one points at a person.

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
        recent: set[tuple[str, tuple[Value, ...], str]] = set()
        for patient, values in rows:
            study = str(values.get("_study", "") or "")
            row = (patient, tuple(_value(values.get(name)) for name in names), study)
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
                        uses.add(json.dumps([i, value], ensure_ascii=False), patient)
            for key, group in groupby(uses, key=itemgetter(0)):
                # Each patient lists a value once; a common value (thousands
                # of patients) is counted, never held.
                users = list(islice((patient for _, patient in group), threshold))
                if len(users) < threshold:
                    for patient in users:
                        kept.add(patient, json.loads(key))
            slots = _with_rare(_slots(facts, len(names)), kept, rare)
        for patient, (slot, studies) in slots:
            record = [(name, tuple(sorted(slot[i]))) for i, name in enumerate(names)]
            record.append((STUDY_COUNT, ((str(len(studies)),),)))
            yield patient, tuple(record)


def _value(raw: Value | str | list | None) -> Value:
    """One file's value as a tuple of parts; () when absent or all empty."""
    if raw is None:
        return ()
    parts = (raw,) if isinstance(raw, str) else tuple(str(part) for part in raw)
    return parts if any(parts) else ()


Slot = tuple[list[set[Value]], set[str]]  # values per quasi-identifier, study UIDs


def _slots(facts: SortedSpool, width: int) -> Iterator[tuple[str, Slot]]:
    for patient, group in groupby(facts, key=itemgetter(0)):
        slot: list[set[Value]] = [set() for _ in range(width)]
        studies: set[str] = set()
        for _, (values, study) in group:
            for i, value in enumerate(values):
                if value:
                    slot[i].add(tuple(value))
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
        keep: set[tuple[int, Value]] = set()
        if current is not None and current[0] == patient:
            keep = {(i, tuple(value)) for _, (i, value) in current[1]}
        for i in rare:
            slot[i] = {value for value in slot[i] if (i, value) in keep}
        yield patient, (slot, studies)


SEP = "\x1f"  # between a class key and a sensitive value
PART = "\x1e"  # between the entries of a class key
# JSON escapes every control character inside a text, so neither separator
# can occur inside an entry: splitting a key gives back its entries.


_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def entry_text(values: Values) -> str:
    return _ENCODE(values)


def class_key(record: Record) -> str:
    """A record as the text classes are sorted and compared on: the JSON of
    each entry's values, in record order. JSON keeps the structure (which
    value is which, where a tuple ends), so two records share a key only when
    they are equal; the advice splits keys on PART to change one entry."""
    return PART.join(entry_text(values) for _, values in record)


def summarise(
    records: Iterable[Record],
    threshold: int = 5,
    quasi_identifiers: Iterable[str] = (),
    workdir: Path | None = None,
    sensitive: str | None = None,
    on_class: Callable[[str, int], None] | None = None,
) -> RiskSummary:
    """Class sizes come from records sorted on disk, so a batch of any size is
    summarised in bounded memory. Each record's prosecutor risk is 1/|class|,
    so their average is classes / records.

    With `sensitive`, that entry of each record is not part of the class but
    its value, sorted next to the class, gives l-diversity: within a class
    equal values are neighbours, so they are counted as they stream past.
    `on_class(key, size)` sees every class once, in key order.
    """
    counter = _ClassStats(threshold)
    with SortedSpool(workdir) as spool:
        for record in records:
            spool.add(_sort_key(record, sensitive), 0)
        for key, group in groupby((key for key, _ in spool), key=lambda k: k.partition(SEP)[0]):
            size, diversity = _class_size(group)
            counter.add(size, diversity)
            if on_class is not None:
                on_class(key, size)
    return counter.summary(tuple(quasi_identifiers), sensitive)


def _sort_key(record: Record, sensitive: str | None) -> str:
    if sensitive is None:
        return class_key(record)
    rest = tuple(entry for entry in record if entry[0] != sensitive)
    value = next((values for name, values in record if name == sensitive), ())
    return class_key(rest) + SEP + entry_text(value)


def _class_size(keys: Iterable[str]) -> tuple[int, tuple[int, float]]:
    """Size of one class, its number of distinct sensitive values and the sum
    of c*ln(c) over their counts c (keys of one sensitive value are adjacent)."""
    size = distinct = 0
    c_log_c = 0.0
    for _, same in groupby(keys):
        count = sum(1 for _ in same)
        size += count
        distinct += 1
        c_log_c += count * math.log(count)
    return size, (distinct, c_log_c)


class _ClassStats:
    """Running figures over classes as they stream past: nothing per class is kept
    except the class-size histogram (at most ~sqrt(2n) distinct sizes)."""

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        self.sizes: Counter[int] = Counter()
        self.l_distinct: int | None = None
        self.l_entropy: float | None = None
        self.homogeneous = 0  # patients in classes whose members share one sensitive value

    def add(self, size: int, diversity: tuple[int, float]) -> None:
        self.sizes[size] += 1
        distinct, c_log_c = diversity
        entropy = math.exp(math.log(size) - c_log_c / size)
        self.l_distinct = distinct if self.l_distinct is None else min(self.l_distinct, distinct)
        self.l_entropy = entropy if self.l_entropy is None else min(self.l_entropy, entropy)
        if distinct == 1:
            self.homogeneous += size

    def summary(self, quasi_identifiers: tuple[str, ...], sensitive: str | None) -> RiskSummary:
        sizes = self.sizes
        n = sum(size * count for size, count in sizes.items())
        diversity = None
        if sensitive is not None and n:
            diversity = LDiversity(
                sensitive, self.l_distinct or 0, self.l_entropy or 0.0, self.homogeneous / n
            )
        return RiskSummary(
            records=n,
            classes=sum(sizes.values()),
            k=min(sizes, default=0),
            threshold=self.threshold,
            below_k=sum(size * count for size, count in sizes.items() if size < self.threshold),
            histogram=tuple(sorted(sizes.items())),
            quasi_identifiers=quasi_identifiers,
            l_diversity=diversity,
        )
