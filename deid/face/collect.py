"""Series assembly from per-file summaries, keeping only what the face check
can use: files of other modalities or body regions are dropped at once, so
memory holds head CT/MR/PT slices only (a few numbers each)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from pydicom.dataset import Dataset

from deid.face.geometry import Series, SliceGeometry, descriptive_words
from deid.face.thresholds import Thresholds

if TYPE_CHECKING:  # OpenCV and scipy load only when a head series is assessed
    from deid.face.assess import FaceResult


def relevant(ds: Dataset, t: Thresholds) -> bool:
    """Cheap per-file gate: could this file belong to a head series?"""
    modality = str(ds.get("Modality", "") or "").upper()
    if modality not in t.modalities or "Rows" not in ds:
        return False
    return t.names_head(descriptive_words(ds))


class SeriesCollector:
    """Head series by UID, with the name each is reported under."""

    def __init__(self, thresholds: Thresholds) -> None:
        self.thresholds = thresholds
        self.series: dict[str, Series] = {}
        self.labels: dict[str, str] = {}  # series key -> name to report (a pseudonym in run)

    def add(self, geometry: SliceGeometry, label: str = "") -> None:
        key = geometry.series or f"no-series:{geometry.path}"
        self.labels.setdefault(key, label or key)
        if key not in self.series:
            self.series[key] = Series(key, geometry.modality, geometry.words)
        self.series[key].add(geometry)

    def assess(self, previews: bool = False) -> Iterator[FaceResult]:
        if not self.series:
            return  # no head series: OpenCV and scipy are never loaded
        from deid.face.assess import assess

        for key, series in self.series.items():
            result = assess(series, self.thresholds, previews)
            result.series = self.labels.get(key, key)
            yield result


def assess_datasets(
    items: Iterable[tuple[Dataset, str]], thresholds: Thresholds, previews: bool = False
) -> list[FaceResult]:
    collector = SeriesCollector(thresholds)
    for ds, path in items:
        if relevant(ds, thresholds):
            collector.add(SliceGeometry.from_dataset(ds, path))
    return list(collector.assess(previews))
