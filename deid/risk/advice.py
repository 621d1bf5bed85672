"""Where the risk comes from, and what would lower it: computed, not fixed.

Every generalisation (see `deid.risk.generalise`) is tried on the data set:
it maps each class of the sample to a coarser class, so the classes after it
are sums of classes before it. Only the class list is read again (never the
files), and each trial counts its classes in bounded memory (`ClassCounter`).
For each quasi-identifier this gives how many sample uniques disappear when
it is removed or generalised, and the generalisation that raises k the most:
the least lossy one that reaches the threshold, else the one with the
highest k (then the smallest share below k).
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter
from pathlib import Path

from deid import spool
from deid.risk.generalise import Generalisation
from deid.risk.kanon import PART, entry_text
from deid.spool import SortedSpool

Classes = Callable[[], Iterable[tuple[str, int]]]  # (class key, size), read again per call


@dataclass(frozen=True)
class Effect:
    """The sample's figures after a change."""

    k: int
    classes: int
    uniques: int  # patients alone in their class
    below_k: int  # patients in classes smaller than the threshold
    records: int

    @property
    def below_k_share(self) -> float:
        return self.below_k / self.records if self.records else 0.0

    @classmethod
    def of(cls, sizes: Iterable[int], threshold: int) -> Effect:
        histogram = Counter(sizes)
        return cls(
            k=min(histogram, default=0),
            classes=sum(histogram.values()),
            uniques=histogram.get(1, 0),
            below_k=sum(s * c for s, c in histogram.items() if s < threshold),
            records=sum(s * c for s, c in histogram.items()),
        )

    def to_dict(self) -> dict[str, object]:
        return {
            "k_anonymity": self.k,
            "equivalence_classes": self.classes,
            "sample_uniques": self.uniques,
            "share_below_k": round(self.below_k_share, 6),
        }


class ClassCounter:
    """Sizes of the classes given by keys, in bounded memory: counts gather in
    a dict of at most `limit` keys, which spills to a sorted spool on disk when
    full; the spilled counts of one key are summed when read back."""

    def __init__(self, workdir: Path | None, limit: int) -> None:
        self._workdir = workdir
        self._limit = limit
        self._counts: Counter[str] = Counter()
        self._spool: SortedSpool | None = None

    def add(self, key: str, size: int) -> None:
        self._counts[key] += size
        if len(self._counts) >= self._limit:
            self._spill()

    def _spill(self) -> None:
        if self._spool is None:
            self._spool = SortedSpool(self._workdir)
        for key, count in self._counts.items():
            self._spool.add(key, count)
        self._counts = Counter()

    def sizes(self) -> Iterator[int]:
        if self._spool is None:
            yield from self._counts.values()
            return
        self._spill()
        for _, group in groupby(self._spool, key=itemgetter(0)):
            yield sum(count for _, count in group)

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()


class ClassList:
    """The sample's classes, (key, size) in key order, in a private temporary
    file read again for each trial: plain lines, no parsing (keys hold no
    tab or newline: JSON escapes them)."""

    def __init__(self, workdir: Path | None) -> None:
        if workdir is not None:
            workdir.mkdir(parents=True, exist_ok=True)
        # Read and written for the whole assessment; close() removes it.
        self._file = tempfile.TemporaryFile("w+", encoding="utf-8", dir=workdir)  # noqa: SIM115

    def add(self, key: str, size: int) -> None:
        self._file.write(f"{key}\t{size}\n")

    def __iter__(self) -> Iterator[tuple[str, int]]:
        self._file.flush()
        self._file.seek(0)
        for line in self._file:
            key, _, size = line.rstrip("\n").rpartition("\t")
            yield key, int(size)

    def close(self) -> None:
        self._file.close()


CACHE = 65536  # generalised entries remembered per trial (one entry maps many classes)


@dataclass(frozen=True)
class Variant:
    """The record with some entries (by position) generalised."""

    changes: tuple[tuple[int, Generalisation], ...]

    def keys(self, classes: Iterable[tuple[str, int]]) -> Iterator[tuple[str, int]]:
        """Each class's key after the change, with its size."""
        cache: dict[tuple[int, str], str] = {}
        for key, size in classes:
            parts = key.split(PART)
            for index, change in self.changes:
                text = parts[index]
                mapped = cache.get((index, text))
                if mapped is None:
                    if len(cache) >= CACHE:
                        cache.clear()
                    values = tuple(tuple(v) for v in json.loads(text))
                    mapped = cache[(index, text)] = entry_text(change.apply(values))
                parts[index] = mapped
            yield PART.join(parts), size


def evaluate(
    classes: Classes, variants: Sequence[Variant], threshold: int, workdir: Path | None
) -> list[Effect]:
    """Each variant's figures, one pass over the class list each. A trial
    holds at most `spool.CHUNK * 32` class keys (some 20 MB) in memory and
    spills the rest to disk, so its memory is bounded however many classes
    there are; below that, which is most data sets, it never touches disk."""
    effects = []
    for variant in variants:
        counter = ClassCounter(workdir, spool.CHUNK * 32)
        try:
            for key, size in variant.keys(classes()):
                counter.add(key, size)
            effects.append(Effect.of(counter.sizes(), threshold))
        finally:
            counter.close()
    return effects


@dataclass(frozen=True)
class Option:
    change: Generalisation
    effect: Effect

    def line(self, before: Effect) -> str:
        """ "generalise PatientAge to 5-year bands: k 1 -> 4, below-k 19.7 % -> 3.1 %" """
        line = (
            f"{self.change.phrase}: k {before.k} -> {self.effect.k}, below-k "
            f"{before.below_k_share:.1%} -> {self.effect.below_k_share:.1%}".replace("%", " %")
        )
        if self.effect.uniques != before.uniques:
            line += f", sample uniques {before.uniques} -> {self.effect.uniques}"
        return line

    def to_dict(self, before: Effect) -> dict[str, object]:
        return {"change": self.change.phrase, **self.effect.to_dict(), "advice": self.line(before)}


@dataclass(frozen=True)
class AttributeRisk:
    """One quasi-identifier's share in the risk."""

    attribute: str
    removed: Effect
    generalised: Option | None  # its best generalisation, if it has any
    advice: Option  # the generalisation (or removal) this attribute is advised
    tried: tuple[Option, ...] = ()  # every generalisation tried, least lossy first

    def to_dict(self, before: Effect) -> dict[str, object]:
        return {
            "attribute": self.attribute,
            "uniques_gone_if_removed": before.uniques - self.removed.uniques,
            "uniques_gone_if_generalised": (
                before.uniques - self.generalised.effect.uniques if self.generalised else None
            ),
            "k_if_removed": self.removed.k,
            "advice": self.advice.to_dict(before),
            "tried": [option.to_dict(before) for option in self.tried],
        }


def best(options: Sequence[Option], threshold: int) -> Option:
    """The least lossy option that reaches the threshold, else the highest k
    (then the fewest patients below k, then the least lossy)."""
    for option in options:
        if option.effect.k >= threshold:
            return option
    ranked = sorted(
        enumerate(options), key=lambda x: (-x[1].effect.k, x[1].effect.below_k, x[0])
    )
    return ranked[0][1]
