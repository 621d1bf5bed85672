"""Series assembly from per-file summaries, keeping only what the face check
can use: files of other modalities are dropped at once; CT/MR/PT images of
any body region are kept, since the images, not the header, say which
series are heads.

The slices that are kept go to a sorted spool on disk, grouped by series,
and come back one series at a time: an archive of head CT is millions of
slices, and even a few numbers each would make memory follow the batch.
"""

from __future__ import annotations

import hmac
import re
import secrets
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING

from pydicom.dataset import Dataset

from deid.face import header
from deid.face.geometry import Series, SliceGeometry, descriptive_words
from deid.face.thresholds import Thresholds
from deid.limits import available_cores
from deid.spool import SortedSpool

if TYPE_CHECKING:  # OpenCV and scipy load only when a head series is assessed
    from deid.face.assess import FaceResult


def relevant(ds: Dataset, t: Thresholds) -> bool:
    """Cheap per-file gate: a CT/MR/PT image, which may belong to a head
    series whatever its header says (the series step decides from the images)."""
    return header.text(ds, "Modality").upper() in t.modalities and header.integer(ds, "Rows") > 0


def named_head(ds: Dataset, t: Thresholds) -> bool:
    """A relevant file whose header names the head: until its series is
    judged, assume its images show a face (the other ones, none)."""
    return relevant(ds, t) and t.names_head(descriptive_words(ds))


def file_ref(key: bytes, series: str) -> str:
    """A name for files about a series that shows nothing of its UID: a keyed
    digest, which cannot hold a path separator or any other character."""
    digest = hmac.new(key, b"face-series\x00" + series.encode("utf-8", "surrogateescape"), "sha256")
    return digest.hexdigest()[:20]


def safe_name(text: str) -> str:
    """Letters, digits, dots and dashes only (for names built from references)."""
    return re.sub(r"[^0-9A-Za-z.-]", "_", text)[:64]


# A series' words, every file's distinct ones joined: bounded like each file's.
_SERIES_WORDS = 16384


class SeriesCollector:
    """Head series by UID, each with the name it is reported under and the
    (input, output) pairs written for it.

    The spool lives in `workdir` (the system temporary folder by default,
    never the shared output: slice records name input paths). Close it, or
    use `with`, to remove it.
    """

    def __init__(
        self, thresholds: Thresholds, workdir: Path | None = None, name_key: bytes | None = None
    ) -> None:
        """`name_key` keys the references previews are named by (a throw-away
        key by default: names then differ between runs)."""
        self.thresholds = thresholds
        self._workdir = workdir
        self._name_key = name_key or secrets.token_bytes(32)
        self._spool: SortedSpool | None = None  # made on the first head slice

    @property
    def count(self) -> int:
        """Head slices collected so far."""
        return self._spool.count if self._spool else 0

    def add(
        self, geometry: SliceGeometry, label: str = "", output: tuple[str, str] | None = None
    ) -> None:
        """`label` names the series in reports (a pseudonym in run); `output`
        is the (input, output) pair to mark once the series is judged."""
        key = geometry.series or f"no-series:{geometry.path}"
        if self._spool is None:
            self._spool = SortedSpool(self._workdir)
        self._spool.add(key, [label or key, output, geometry.to_record()])

    def assess(
        self, previews: bool = False, threads: int = 1
    ) -> Iterator[tuple[FaceResult, list[tuple[str, str]]]]:
        """Each candidate series' result and its outputs, in series-key order.
        Series too small to judge whose header does not name the head are
        passed over silently (a localizer, a single slice). `threads`: series
        judged at once (reading, resampling and the detectors release the
        interpreter), a few more waiting read, so memory stays bounded."""
        if self._spool is None:
            return  # no CT/MR/PT images: OpenCV and scipy are never loaded
        from deid.face.assess import assess

        threads = min(threads, available_cores())  # --jobs may count a cluster's workers
        if threads <= 1:
            for records, series in self._candidates():
                yield self._judged(assess(series, self.thresholds, previews), records, series)
            return
        # Reading frames may silence pydicom's warnings (catch_warnings): the
        # process-wide filter list is not thread safe, so the threads' changes
        # nest inside this one and are undone with it (they leaked: a review
        # saw every later warning of the run dropped). Until the last series
        # is judged, warnings are ignored, the caller's between results too.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield from self._assess_in_threads(previews, threads)

    def _assess_in_threads(
        self, previews: bool, threads: int
    ) -> Iterator[tuple[FaceResult, list[tuple[str, str]]]]:
        from deid.face.assess import assess

        pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="deid-face")
        try:
            waiting: deque = deque()
            for records, series in self._candidates():
                future = pool.submit(assess, series, self.thresholds, previews)
                waiting.append((future, records, series))
                if len(waiting) > 2 * threads:
                    future, records, series = waiting.popleft()
                    yield self._judged(future.result(), records, series)
            while waiting:
                future, records, series = waiting.popleft()
                yield self._judged(future.result(), records, series)
        finally:  # stopped early (interrupted): series not yet started are dropped
            pool.shutdown(wait=True, cancel_futures=True)

    def _candidates(self) -> Iterator[tuple[list, Series]]:
        from deid.face.assess import candidate

        for key, group in groupby(self._spool, key=itemgetter(0)):
            # By path: the same slices in the same order on every run.
            records = sorted((record for _, record in group), key=lambda r: r[2][0])
            slices = [SliceGeometry.from_record(r[2]) for r in records]
            # Every file's words: one file of a series naming the head (its
            # body part filled on one slice) makes it a head series.
            words = " ".join(dict.fromkeys(s.words for s in slices))[:_SERIES_WORDS]
            series = Series(key, slices[0].modality, words, slices)
            if candidate(series, self.thresholds):
                yield records, series

    def _judged(
        self, result: FaceResult, records: list, series: Series
    ) -> tuple[FaceResult, list[tuple[str, str]]]:
        result.series = records[0][0]
        result.ref = file_ref(self._name_key, series.uid)
        # Each file was marked at first from its own words: where they
        # disagree, some outputs hold the other value whatever the level.
        words = {s.words for s in series.slices}
        result.mixed = len({self.thresholds.names_head(w) for w in words}) > 1
        return result, [tuple(r[1]) for r in records if r[1]]

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()

    def __enter__(self) -> SeriesCollector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def assess_datasets(
    items: Iterable[tuple[Dataset, str]], thresholds: Thresholds, previews: bool = False
) -> list[FaceResult]:
    with SeriesCollector(thresholds) as collector:
        for ds, path in items:
            if relevant(ds, thresholds):
                collector.add(SliceGeometry.from_dataset(ds, path))
        return [result for result, _ in collector.assess(previews)]
