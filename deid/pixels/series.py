"""Series examined by samples: a few slices each, and what never changes.

Text burned into a CT/MR/PT series is, in practice, on every slice at the
same place: a scanner's banner, a workstation's overlay. So a series is
judged by its first, middle and last slices, plus one cheap check over
all of them: pixels whose raw value is the same in every slice (a static
overlay) and that form thin strokes, shown to the text detector as one
picture. Either finding text makes the caller examine every slice.

Memory does not follow the batch: members wait in a sorted spool on disk
and come back one series at a time; the running minimum and maximum of a
few series at once stay in memory, and a series pushed out (files of many
series interleaved) is read again from disk when it is judged.
"""

from __future__ import annotations

import struct
import warnings
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import UID

from deid.dicom_io import transfer_syntax
from deid.paths import open_regular
from deid.pixels.classify import AllowList, label
from deid.pixels.policy import SAMPLE_REASON, TEXT_REASON  # noqa: F401 - the series' reasons
from deid.risk.findings import Finding, Severity
from deid.risk.identifiers import IdentifierSet
from deid.spool import SortedSpool

UNVERIFIED = (
    "its series carries text and its constant pixels could not be checked: text the "
    "detector misses on a slice would go unnoticed"
)

STACK_MEMORY = 128 << 20  # bytes of running minima/maxima kept at once
MIN_STROKE_PIXELS = 24  # fewer constant stroke pixels than this hold no word
OPENING = 7  # px: constant areas at least this thick are background, not strokes
MAX_VALUES = 16  # distinct constant values looked at (ink colours, padding)
CHUNK_FILES = 1024  # members of the series judged together (bounded memory)
IN_MEMORY = 1024  # members held as they are before all go to a spool on disk

# Findings that show a sample carries text (a device's known text region counts).
TEXT_RULES = frozenset(
    {
        "pixels.burned-in-text",
        "pixels.known-region",
        "pixels.residual-text",
        "pixels.static-overlay",
    }
)


@dataclass(frozen=True)
class RawLayout:
    """Where a file's native pixel bytes are, to read them without parsing."""

    offset: int
    rows: int
    columns: int
    dtype: str  # numpy dtype of one sample, unsigned: equality is all we need
    frames: int

    @property
    def nbytes(self) -> int:
        return self.rows * self.columns * self.frames * np.dtype(self.dtype).itemsize

    def read(self, path: Path) -> np.ndarray | None:
        try:
            count = self.rows * self.columns * self.frames
            flat = np.fromfile(path, self.dtype, count, "", self.offset)
        except (OSError, ValueError):
            return None
        if flat.size != count:
            return None
        return flat.reshape(self.frames, self.rows, self.columns)

    def to_list(self) -> list:
        return [self.offset, self.rows, self.columns, self.dtype, self.frames]

    @classmethod
    def from_list(cls, raw: list | None) -> RawLayout | None:
        return cls(*raw) if raw else None

    @staticmethod
    def _shape(ds: Dataset, ts: UID) -> tuple[int, int, str, int] | None:
        """(rows, columns, dtype, frames) of native grayscale 8/16-bit little-endian data."""
        if ts.is_compressed or not ts.is_little_endian or ts.is_deflated:
            return None
        if int(ds.get("SamplesPerPixel", 1) or 1) != 1:
            return None
        bits = int(ds.get("BitsAllocated", 0) or 0)
        if bits not in (8, 16):
            return None
        try:
            rows, columns = int(ds.Rows), int(ds.Columns)
            frames = int(ds.get("NumberOfFrames", 1) or 1)
        except (AttributeError, TypeError, ValueError):
            return None
        return rows, columns, "u1" if bits == 8 else "<u2", max(1, frames)

    @classmethod
    def at(
        cls, head: bytes, where: int, ds: Dataset, ts: UID, shape: tuple | None = None
    ) -> RawLayout | None:
        """The layout if `head` (the file's bytes from `where`) starts the
        Pixel Data element with the length this image needs."""
        shape = shape or cls._shape(ds, ts)
        if shape is None or head[:4] != b"\xe0\x7f\x10\x00":
            return None
        if ts.is_implicit_VR:
            (length,), start = struct.unpack("<I", head[4:8]), where + 8
        else:
            (length,), start = struct.unpack("<I", head[8:12]), where + 12
        layout = cls(start, *shape)
        if length in (layout.nbytes, layout.nbytes + 1):
            return layout
        return None

    @classmethod
    def in_encoded(cls, ds: Dataset, data: bytes, ts: UID) -> RawLayout | None:
        """The layout inside bytes deid encoded (Pixel Data written last)."""
        shape = cls._shape(ds, ts)
        if shape is None:
            return None
        size = cls(0, *shape).nbytes
        for header in (12, 8):
            where = len(data) - size - (size % 2) - header
            if where >= 0:
                found = cls.at(data[where : where + 12], where, ds, ts, shape)
                if found is not None:
                    return found
        return None

    @classmethod
    def of_file(cls, path: Path) -> RawLayout | None:
        """The layout of any file, by parsing its header (slower: the fallback)."""
        try:
            with open_regular(path) as fh, warnings.catch_warnings():
                warnings.simplefilter("ignore")
                # force: a headerless input (no meta) is read as a run read it;
                # without, a dry run's series holding one went unchecked.
                ds = pydicom.dcmread(fh, stop_before_pixels=True, force=True)
                where = fh.tell()
                head = fh.read(12)
        except Exception:  # noqa: BLE001 - no layout: the series goes without the check
            return None
        return cls.at(head, where, ds, transfer_syntax(ds))


@dataclass
class Stack:
    """Running minimum and maximum of one series' raw pixel values."""

    low: np.ndarray | None = None
    high: np.ndarray | None = None
    frames: int = 0
    problem: str = ""  # why the check cannot be made
    constant: int = -1  # pixels constant so far, counted now and then

    @property
    def settled(self) -> bool:
        """Nothing is constant any more: no later slice can change the answer,
        so the rest of the series need not be read."""
        return 0 <= self.constant < MIN_STROKE_PIXELS

    def add(self, pixels: np.ndarray | None) -> None:
        if self.problem or self.settled:
            return
        if pixels is None:
            self.problem = "pixel data not stored natively (compressed, colour or unreadable)"
            return
        if self.low is None:
            self.low, self.high = pixels.min(axis=0), pixels.max(axis=0)
        elif pixels.shape[1:] != self.low.shape or pixels.dtype != self.low.dtype:
            self.problem = "slices of different sizes"
            return
        else:
            for frame in pixels:
                np.minimum(self.low, frame, out=self.low)
                np.maximum(self.high, frame, out=self.high)
        self.frames += pixels.shape[0]
        if self.frames % 8 == 2:  # a count costs about one slice's minimum
            self.constant = int(np.count_nonzero(self.low == self.high))

    @property
    def nbytes(self) -> int:
        return 0 if self.low is None else 2 * self.low.nbytes

    def strokes(self) -> np.ndarray | None:
        """Thin structures made of pixels constant in every slice, or None."""
        if self.problem or self.settled or self.low is None or self.frames < 2:
            return None
        return static_strokes(self.low, self.high)


def static_strokes(low: np.ndarray, high: np.ndarray) -> np.ndarray | None:
    """Constant pixels that form strokes. Each constant value is looked at
    alone: a value mostly in thick areas is background (padding outside the
    field of view), left out whole, gaps between letters included; of the
    others, the thin parts are ink. None when too little is left."""
    from deid.cv import cv2

    const = low == high
    if int(const.sum()) < MIN_STROKE_PIXELS:
        return None
    values, counts = np.unique(low[const], return_counts=True)
    strokes = np.zeros(low.shape, bool)
    kernel = np.ones((OPENING, OPENING), np.uint8)
    for i in np.argsort(counts)[::-1][:MAX_VALUES]:
        if counts[i] < 4:
            break
        mask = (const & (low == values[i])).astype(np.uint8)
        thick = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
        if int(thick.sum()) >= 0.5 * int(counts[i]):
            continue  # background
        strokes |= mask > thick
    return strokes if int(strokes.sum()) >= MIN_STROKE_PIXELS else None


@dataclass(frozen=True)
class Overlay:
    """A region of a series' static overlay: where (x, y, w, h), and what it reads."""

    box: tuple[int, int, int, int]
    text: str


def static_text(stack: Stack) -> list[Overlay]:
    """Text regions in the picture of a series' static strokes (white on
    black), with their readings."""
    strokes = stack.strokes()
    if strokes is None:
        return []
    from deid.pixels import detect, ocr

    gray = np.where(strokes, 255, 0).astype(np.uint8)
    picture = np.dstack([gray, gray, gray])
    boxes = detect.find_text(picture)
    readings = ocr.read(picture, boxes)
    return [Overlay((b.x, b.y, b.w, b.h), r.text) for b, r in zip(boxes, readings, strict=True)]


@dataclass
class Member:
    """One held file of a sampled series."""

    series: str
    order: int  # InstanceNumber; ties go by name
    name: str  # the input, as the caller names it: the same on every run
    source: str  # file whose pixels are read for the static check
    layout: RawLayout | None
    item: Any  # the caller's record of the file, returned as given
    examined: str = ""  # "sample" or "series" when already examined (a resumed run)

    def to_record(self) -> list:
        layout = self.layout.to_list() if self.layout else None
        return [
            self.series, self.order, self.name, self.source, layout, self.item, self.examined
        ]

    @classmethod
    def from_record(cls, raw: list) -> Member:
        layout = RawLayout.from_list(raw[4])
        return cls(raw[0], raw[1], raw[2], raw[3], layout, raw[5], raw[6])


@dataclass
class SampledSeries:
    key: str
    members: list[Member]  # in slice order
    static_boxes: list[Overlay] = field(default_factory=list)
    static_problem: str = ""

    @property
    def size(self) -> int:
        return len(self.members)

    def samples(self) -> list[Member]:
        """First, middle and last slices: the same ones on every run of the
        same batch (a resumed run too)."""
        n = len(self.members)
        return [self.members[i] for i in sorted({0, round((n - 1) / 2), n - 1})]

    def to_sample(self) -> list[Member]:
        """Samples not examined yet."""
        return [m for m in self.samples() if not m.examined]

    @property
    def examined_whole(self) -> bool:
        """An earlier run examined slices of it because it carries text."""
        return any(m.examined == "series" for m in self.members)


class SeriesSampler:
    """Members of sampled series, grouped and judged a chunk at a time.

    The first IN_MEMORY members stay in memory as they are; past that, all
    go to a sorted spool in `workdir` (system temp by default, never the
    shared output: members name input paths). Close it, or use `with`.
    """

    def __init__(self, workdir: Path | None = None, memory: int = STACK_MEMORY) -> None:
        self._workdir = workdir
        self._held: list[tuple[str, Member]] | None = []  # None once spilled to the spool
        self._spool: SortedSpool | None = None
        self._stacks: OrderedDict[str, Stack] = OrderedDict()
        self._evicted: set[str] = set()
        self._memory = memory

    @property
    def count(self) -> int:
        return len(self._held) if self._held is not None else self._spool.count

    def _keep(self, member: Member) -> None:
        order = min(max(member.order, -(10**11)), 10**11) + 10**11
        key = f"{member.series}\t{order:012d}\t{member.name}"
        if self._held is not None and len(self._held) < IN_MEMORY:
            self._held.append((key, member))
            return
        if self._spool is None:
            self._spool = SortedSpool(self._workdir)
            for held_key, held in self._held or []:
                self._spool.add(held_key, held.to_record())
            self._held = None
        self._spool.add(key, member.to_record())

    def add(self, member: Member) -> None:
        self._keep(member)
        if member.series in self._evicted:
            return  # read again when judged
        stack = self._stacks.pop(member.series, None) or Stack()
        if not stack.settled:
            stack.add(member.layout.read(Path(member.source)) if member.layout else None)
        self._stacks[member.series] = stack  # most recent last
        self._trim()

    def _trim(self) -> None:
        used = sum(s.nbytes for s in self._stacks.values())
        while used > self._memory and len(self._stacks) > 1:
            key, stack = self._stacks.popitem(last=False)
            used -= stack.nbytes
            self._evicted.add(key)

    def _stack(self, key: str, members: list[Member]) -> Stack:
        if key not in self._evicted and key in self._stacks:
            return self._stacks.pop(key)
        stack = Stack()
        for m in members:
            if stack.settled or stack.problem:
                break
            stack.add(m.layout.read(Path(m.source)) if m.layout else None)
        return stack

    def _members(self) -> Iterator[Member]:
        if self._held is not None:
            self._held.sort(key=lambda pair: pair[0])
            return (member for _, member in self._held)
        return (Member.from_record(r) for _, r in self._spool)

    def series(self) -> Iterator[SampledSeries]:
        """Each series with its static check made, in series-key order."""
        for key, group in groupby(self._members(), key=lambda m: m.series):
            members = list(group)
            stack = self._stack(key, members)
            if len(members) <= 3:  # every slice is a sample anyway
                yield SampledSeries(key, members)
                continue
            yield SampledSeries(key, members, static_text(stack), stack.problem)

    def chunks(self) -> Iterator[list[SampledSeries]]:
        """Series in groups of about CHUNK_FILES members: work on a group runs
        in parallel, memory holds one group."""
        chunk: list[SampledSeries] = []
        size = 0
        for found in self.series():
            chunk.append(found)
            size += len(found.members)
            if size >= CHUNK_FILES:
                yield chunk
                chunk, size = [], 0
        if chunk:
            yield chunk

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        self._held = []
        self._stacks.clear()

    def __enter__(self) -> SeriesSampler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def carries_text(findings: list[Finding]) -> bool:
    return any(f.rule in TEXT_RULES for f in findings)


def overlay_to_redact(
    found: SampledSeries, allow: AllowList, all_text: bool
) -> list[Overlay]:
    """The static-overlay regions to redact in every slice: all but those
    that read as allow-listed markers (unless all text is redacted)."""
    return [
        o
        for o in found.static_boxes
        if all_text or label(o.text, IdentifierSet(), allow).kind != "marker"
    ]


def overlay_findings(overlay: list[Overlay], file: str, redacted: bool) -> list[Finding]:
    """One finding per static-overlay region, on each slice's entry."""
    return [
        Finding(
            "pixels.static-overlay",
            Severity.LOW if redacted else Severity.HIGH,
            "burned-in text constant in every slice of its series (static overlay)",
            file=file,
            location=f"PixelData box {o.box[0]},{o.box[1]},{o.box[2]},{o.box[3]}",
            action="redacted in every slice" if redacted else "reported only",
            evidence=o.text,
            extra={"box": list(o.box), "label": "text"},
        )
        for o in overlay
    ]


def slice_number(ds: Dataset) -> int:
    """A slice's place in its series: InstanceNumber, 0 when missing or not
    a number (ties go by name)."""
    try:
        return int(ds.get("InstanceNumber", 0) or 0)
    except (TypeError, ValueError):
        return 0


def why_text(found: SampledSeries, hits: list[int]) -> str:
    """Why a series is examined whole ("" when nothing says so): text in
    sampled slices (by number), a static overlay, or an earlier run."""
    if hits:
        return f"text in sampled slice(s) {', '.join(map(str, hits))}"
    if found.static_boxes:
        return f"a static overlay: {len(found.static_boxes)} region(s) constant in every slice"
    if found.examined_whole:
        return "an earlier run of this command found text"
    return ""


def series_finding(
    found: SampledSeries, why: str, file: str, where: str = ""
) -> Finding | None:
    """What was done to a series, said once, on the entry of its file `file`,
    at `where` ("series <key>" unless given: a scan's key is the original
    Series Instance UID, which its reports do not show)."""
    n = found.size
    sampled = len(found.samples())
    if sampled >= n:
        return None  # every slice was a sample: the files' own findings say it all
    where = where or f"series {found.key}"
    if why and found.static_problem:  # text is there, and nothing shows all of it was found
        return Finding(
            "pixels.series-text",
            Severity.HIGH,
            f"series carries burned-in text ({why}): all {n} slices examined, but no check "
            f"of pixels constant across slices ({found.static_problem}), so text the "
            "detector misses on a slice may remain; no clean picture is claimed",
            file=file,
            location=where,
            action="review the text areas of every slice by eye",
        )
    if why:
        return Finding(
            "pixels.series-text",
            Severity.INFO,
            f"series carries burned-in text ({why}): all {n} slices examined",
            file=file,
            location=where,
            action="every slice examined",
        )
    static = (
        f"a check of pixels constant across all {n} slices found no overlay"
        if not found.static_problem
        else f"no check of constant pixels ({found.static_problem})"
    )
    # Without the constant-pixel check (pixels stored compressed), faint
    # text on every slice that the detector misses on the samples is left
    # with nothing else having looked: a finding, as an unexamined file is.
    return Finding(
        "pixels.series-sampled",
        Severity.LOW if found.static_problem else Severity.INFO,
        f"series examined by samples: {sampled} of {n} slices examined and {static}; "
        f"the other {n - sampled} "
        f"{'slice was' if n - sampled == 1 else 'slices were'} not examined one by one",
        file=file,
        location=where,
        action="sampled slices examined; the others unchanged"
        + ("; --pixels all examines every slice" if found.static_problem else ""),
    )


__all__ = [
    "UNVERIFIED", "Member", "RawLayout", "SampledSeries", "SeriesSampler", "Stack", "slice_number"
]
