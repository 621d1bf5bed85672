"""Finding, recognising, reading and writing DICOM files.

DICOM is recognised by content, never by extension: a Part 10 preamble with
"DICM", or a headerless data set that starts with a plausible group 0008
element. Outputs are written by deid.writing: whole or not at all, never
through a symbolic link.
"""

from __future__ import annotations

import os
import re
import struct
import warnings
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any, BinaryIO

import pydicom
from pydicom import config
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.tag import BaseTag
from pydicom.uid import UID

from deid.errors import InputFileError
from deid.paths import open_regular, resolved
from deid.private_cut import Cut, without_private
from deid.raw_walk import LONG_VRS, UNDEFINED, CannotTell, looks_explicit, skip_sequence
from deid.safetext import without_values
from deid.writing import (  # noqa: F401 - where callers have always found them
    TMP_SUFFIX,
    atomic_write,
    atomic_writer,
    is_temporary,
    read_no_follow,
    remove_stale_temporaries,
)

# Invalid values in inputs are common and deid replaces or removes most of
# them; warning on each would drown the one-line errors users need to see.
config.settings.reading_validation_mode = config.IGNORE


@dataclass(frozen=True)
class Discovered:
    """One input found on disk, or a place that could not be searched."""

    path: Path
    problem: str = ""
    skip: bool = False  # the problem passes it over (no failure): deid's own temporary


def discover(inputs: Iterable[Path], refuse: Iterable[Path] = ()) -> Iterator[Discovered]:
    """Files under the inputs, streamed (files in listing order, folders sorted).

    Symbolic links to folders are followed once; a loop is not walked twice.
    Unreadable folders are reported, not skipped silently. Nothing inside a
    folder in `refuse` (where deid writes: OUT, reports, linkage tables,
    previews) is read, however it is reached (a link to OUT, or to `..`):
    each re-run would otherwise take the last run's outputs as new inputs.
    """
    fence = _Fence(refuse)
    seen_dirs: set[tuple[int, int]] = set()
    for root in inputs:
        if not root.exists() and not root.is_symlink():
            yield Discovered(root, "no such file or folder")
        elif not root.exists():
            yield Discovered(root, "broken symbolic link")
        elif fence.inside(root):
            yield Discovered(root, fence.reason)
        elif root.is_dir():
            yield from _walk(root, seen_dirs, fence)
        elif root.is_file():
            yield Discovered(root)
        else:
            yield Discovered(root, NOT_REGULAR)


NOT_REGULAR = "not a regular file or folder (a FIFO, socket or device): not read"
TEMPORARY = "a temporary file of an interrupted deid run: not read"


class _Fence:
    """The folders discovery never enters, known by identity (device and
    inode, so every path to one is caught) and by resolved path (for links
    to files inside them)."""

    reason = "inside a folder deid writes to (output, report, linkage, previews): not read"

    def __init__(self, folders: Iterable[Path]) -> None:
        self.ids: set[tuple[int, int]] = set()
        self.paths: list[Path] = []
        for folder in folders:
            try:
                st = folder.stat()
            except OSError:
                continue  # not there yet: nothing in it to read
            self.ids.add((st.st_dev, st.st_ino))
            self.paths.append(resolved(folder))

    def inside(self, path: Path) -> bool:
        if not self.paths:
            return False
        real = resolved(path)
        return any(real.is_relative_to(folder) for folder in self.paths)


def _walk(folder: Path, seen: set[tuple[int, int]], fence: _Fence) -> Iterator[Discovered]:
    try:
        st = folder.stat()
    except OSError as exc:
        yield Discovered(folder, f"cannot open folder: {exc.strerror}")
        return
    ident = (st.st_dev, st.st_ino)
    if ident in fence.ids:
        yield Discovered(folder, fence.reason)
        return
    if ident in seen:
        return
    seen.add(ident)
    # Files stream in directory order as they are listed, so a flat folder of
    # millions costs no memory; only sub-folder names are held, then walked
    # in sorted order.
    folders: list[str] = []
    try:
        with os.scandir(folder) as it:
            for entry in it:
                path = Path(entry.path)
                try:
                    if entry.is_dir():
                        folders.append(entry.name)
                    elif entry.is_file():
                        if is_temporary(entry.name):
                            yield Discovered(path, TEMPORARY, skip=True)
                        elif entry.is_symlink() and fence.inside(path):
                            yield Discovered(path, fence.reason)
                        else:
                            yield Discovered(path)
                    elif entry.is_symlink() and not os.path.exists(path):
                        yield Discovered(path, "broken symbolic link")
                    else:  # never silence: a FIFO may be anything, a device endless
                        yield Discovered(path, NOT_REGULAR)
                except OSError as exc:
                    yield Discovered(path, f"cannot inspect: {exc.strerror}")
    except OSError as exc:
        yield Discovered(folder, f"cannot read folder: {exc.strerror}")
        return
    for name in sorted(folders):
        yield from _walk(folder / name, seen, fence)


def sniff(path: Path) -> str:
    """'part10', 'raw' (headerless data set) or '' (not DICOM)."""
    try:
        with open_regular(path) as fh:
            return _kind(fh.read(132))
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read: {exc.strerror}") from None


def _kind(head: bytes) -> str:
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "part10"
    if len(head) >= 8:
        group, element = struct.unpack("<HH", head[:4])
        # Headerless files start with a low group: 0002 meta, 0008 identity
        # (often after a group length), in little endian; some old files
        # start with a big-endian 0008.
        if group in (0x0002, 0x0008) and element < 0x0200:
            return "raw"
        if struct.unpack(">H", head[:2])[0] == 0x0008:
            return "raw"
    return ""


# Files up to this size are read whole with one system call and parsed from
# memory: from a file, pydicom reads and seeks element by element (~300 system
# calls for a CT slice). The raw bytes sit next to the data set parsed from
# them until the parse ends, so this also bounds what a worker holds twice;
# larger files (multi-frame, whole-slide), where the calls matter little, are
# parsed from the open file.
IN_MEMORY_BYTES = 16 << 20


def read(path: Path) -> Dataset:
    """Read a whole data set, or raise InputFileError with a reason."""
    return _read(path, cut_private=False)[0]


def read_without_private(path: Path) -> tuple[Dataset, int]:
    """Read a data set whose top-level private elements are removed anyway,
    and how many of them were never parsed (deid.private_cut)."""
    return _read(path, cut_private=True)


def _read(path: Path, cut_private: bool) -> tuple[Dataset, int]:
    try:
        with open_regular(path) as fh:
            if os.fstat(fh.fileno()).st_size > IN_MEMORY_BYTES:
                return _parse(path, fh), 0
            data = fh.read()
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not cut_private:
        return _parse(path, BytesIO(data)), 0
    cut = without_private(data)
    try:
        ds = _parse(path, BytesIO(cut.data))
    except NoDataSet:
        if not cut.count:
            raise
        raise NoDataSet(
            f"{path}: no data set but {cut.count} private element(s), which the profile "
            "removes: no attribute left to write"
        ) from None
    if cut.count:
        _offsets_in_file(ds, cut)
    return ds, cut.count


# Values whose offset is used after parsing: the face step reads pixel
# frames straight from the file there.
_BULK = (0x7FE00008, 0x7FE00009, 0x7FE00010)


def _offsets_in_file(ds: Dataset, cut: Cut) -> None:
    """Bulk values' offsets in the file, not in the bytes parsed."""
    for tag in _BULK:
        elem = ds.get_item(tag) if tag in ds else None
        if isinstance(elem, RawDataElement) and elem.value_tell is not None:
            ds[tag] = elem._replace(value_tell=cut.original(elem.value_tell))
        elif isinstance(elem, DataElement) and elem.file_tell is not None:
            elem.file_tell = cut.original(elem.file_tell)


# In a file too large to read whole, values above this size are left on disk
# until used: a large element the profile removes (a private blob of
# gigabytes) is then never read at all; kept ones (pixel data) are read when
# written.
DEFER_BYTES = 1 << 20


def _reopen(name: str, mode: str = "rb") -> BinaryIO:
    return open_regular(name)


def _defer(source: BinaryIO) -> int | None:
    return DEFER_BYTES if not isinstance(source, BytesIO) else None


def _parse(path: Path, source: BinaryIO) -> Dataset:
    kind = _kind(source.read(132))
    if not kind:
        raise InputFileError(f"{path}: not a DICOM file (no DICM marker, no DICOM header)")
    if kind == "part10":
        _check_inflation(path, source)
    source.seek(0)
    try:
        ds = read_delimited(path, source, force=kind == "raw", defer_size=_defer(source))
        if not isinstance(source, BytesIO):
            # Values left on disk are read when used, by name: through
            # open_regular too (a pipe put in the file's place would block).
            ds.fileobj_type = _reopen
    except RecursionError:
        raise InputFileError(f"{path}: sequences nested too deeply to read safely") from None
    except (
        InvalidDicomError,
        EOFError,
        ValueError,
        struct.error,
        OSError,
        KeyError,
        TypeError,
        NotImplementedError,
        AttributeError,
        OverflowError,
    ) as exc:
        reason = without_values(str(exc).splitlines()[0]) if str(exc) else type(exc).__name__
        raise InputFileError(f"{path}: unreadable DICOM: {reason}") from None
    check_read(path, ds, kind)
    check_tail(path, ds, source)
    return ds


def read_delimited(path: Path, source: BinaryIO, **options: Any) -> Dataset:
    """pydicom's read of `source` (run and scan alike), failed where the
    file ends inside a value of undefined length (see _check_delimited)."""
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        ds = pydicom.dcmread(source, **options)
    _check_delimited(path, said, ds)
    return ds


def _check_delimited(path: Path, said: list[warnings.WarningMessage], ds: Dataset) -> None:
    """The reader warns, and returns what it has (nothing at all, for a file
    without a preamble), when the file ends inside an undefined-length
    sequence or encapsulated pixel data: such a file was skipped as "not
    DICOM" in a folder, exit code 0. Recording warnings is not thread-safe
    (a run reads in threads too), so the warning counts only where it can
    be this file's: nothing read, or a last element of undefined length."""
    if not any(str(w.message).startswith("End of file reached before delimiter") for w in said):
        return
    last = next(reversed(ds.keys()), None)
    if last is not None:
        elem = ds.get_item(last, keep_deferred=True)
        undefined = getattr(elem, "length", None) == UNDEFINED
        if not (undefined or getattr(elem, "is_undefined_length", False)):
            return
    raise InputFileError(  # a real file's pixel data cut short, or bytes that are not DICOM
        f"{path}: truncated or damaged: the file ends inside a value of undefined length "
        "(a sequence or encapsulated pixel data without its delimiter)"
    )


class NoDataSet(InputFileError):
    """Nothing after the file meta (or nothing a run would keep)."""


def check_read(path: Path, ds: Dataset, kind: str, pixels_read: bool = True) -> None:
    """What a read that did not fail still shows of a broken file: nothing
    read from a file without a header, an element or image cut short.
    `deid scan` asks the same of its reads (`pixels_read` False: they stop
    before the pixel data, and a header without an image's pixel attributes
    is still scanned)."""
    if kind == "raw" and len(ds) == 0:
        raise InputFileError(f"{path}: not a DICOM file (no elements could be read)")
    if len(ds) == 0:
        raise NoDataSet(f"{path}: no data set: no element after the file meta could be read")
    _check_complete(path, ds, pixels_read)


# A deflated data set is inflated whole in memory by the reader; one that
# would grow beyond this is refused before it is read (a "deflate bomb").
MAX_INFLATED_BYTES = 1 << 30
DEFLATED_UID = pydicom.uid.DeflatedExplicitVRLittleEndian.encode("ascii")


def check_inflation(path: Path) -> None:
    """Refuse deflated files that would inflate beyond MAX_INFLATED_BYTES,
    measuring in bounded chunks so the check itself stays small."""
    with open_regular(path) as fh:
        _check_inflation(path, fh)


def _check_inflation(path: Path, fh: BinaryIO) -> None:
    # The meta group comes first: a file without the deflated transfer
    # syntax UID in its first bytes is not deflated (the common case).
    fh.seek(0)
    if DEFLATED_UID not in fh.read(4096):
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            meta = pydicom.filereader.read_file_meta_info(path)  # rare: re-open is fine
    except Exception:  # noqa: BLE001 - the full read reports a bad header
        return
    if meta.get("TransferSyntaxUID") != pydicom.uid.DeflatedExplicitVRLittleEndian:
        return
    length = meta.get("FileMetaInformationGroupLength")
    if length is None:
        return
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    total = 0
    fh.seek(132 + 12 + int(length))
    while chunk := fh.read(1 << 16):
        data = inflater.decompress(chunk, 1 << 20)
        while True:
            total += len(data)
            if total > MAX_INFLATED_BYTES:
                raise InputFileError(
                    f"{path}: deflated data set inflates beyond "
                    f"{MAX_INFLATED_BYTES >> 20} MiB; refused"
                )
            if not inflater.unconsumed_tail:
                break
            data = inflater.decompress(inflater.unconsumed_tail, 1 << 20)
        if inflater.eof:
            break


def check_pixel_span(
    path: Path, ds: Dataset, where: int, head: bytes
) -> tuple[int, int] | None:
    """A header read without its pixel data (a scan): the pixel data element
    that follows must fit in the file, as a run's full read requires. Where
    its value starts in the file and its declared length (None: no pixel
    data element follows)."""
    implicit, little = ds.original_encoding
    if implicit is None or len(head) < 4:
        return None
    order = "<" if little else ">"
    group, element = struct.unpack_from(order + "HH", head)
    if (group, element) != (0x7FE0, 0x0010):
        return None
    # pydicom reads a data set as its first element's bytes say (a VR there
    # or not), whatever its transfer syntax says, and warns; the data set
    # keeps the syntax's encoding as its own. The same test on this element.
    if not looks_explicit(head, 0):
        form, at, header = "L", 4, 8
    elif head[4:6] in LONG_VRS:
        form, at, header = "L", 8, 12
    else:
        form, at, header = "H", 6, 8
    if len(head) < header:
        raise InputFileError(f"{path}: truncated: element (7FE0,0010) is cut short")
    size = struct.unpack_from(order + form, head, at)[0]
    available = os.stat(path).st_size - where - header
    if size != UNDEFINED and size > available:
        raise InputFileError(
            f"{path}: truncated: element (7FE0,0010) declares {size} bytes, "
            f"the file holds {max(available, 0)}"
        )
    return where + header, size


HEADER_BYTES = 8  # the shortest element header
# What a text-mode copy or a padder leaves after a data set: one kind only,
# since a cut two bytes into group 0020 reads b" \0".
_PADDING = (frozenset(b" "), frozenset(b"\r\n"), frozenset(b"\0"), frozenset(b"\t"))


def check_tail(path: Path, ds: Dataset, source: BinaryIO) -> None:
    """The reader ends a data set without a word where fewer bytes than an
    element header are left. A file cut there passed as whole, without the
    elements after the cut (an SR lost its content), and as the same
    instance it then refused the intact copy. Bytes left after the last
    element that start a tag in order after it are such a cut, and so is a
    last sequence without its delimiter. Padding is not (spaces, line ends,
    zeros), nor are bytes after the pixel data: a run writes nothing after
    it, a scan reports their text (deid.risk.outside)."""
    last = next(reversed(ds.keys()), None)
    if last is None or last in _BULK or transfer_syntax(ds) == DEFLATED_UID.decode():
        return
    order = "<" if ds.original_encoding[1] is not False else ">"
    implicit = ds.original_encoding[0] is not False
    end = _end_of(path, ds.get_item(last, keep_deferred=True), source, (order, implicit), last)
    if end is None:
        return
    source.seek(end)
    tail = source.read(HEADER_BYTES)
    if not 2 <= len(tail) < HEADER_BYTES or any(set(tail) <= kind for kind in _PADDING):
        return  # whole, or padding appended (spaces, line ends, zeros)
    group = struct.unpack_from(order + "H", tail)[0]
    after = group >= last.group  # two bytes: the same group is the likely next element
    if len(tail) >= 4 and group == last.group:
        after = struct.unpack_from(order + "H", tail, 2)[0] > last.element
    if after:
        raise InputFileError(
            f"{path}: truncated: the file ends {len(tail)} bytes into the header of the "
            f"element after ({last.group:04X},{last.element:04X})"
        )


def _end_of(
    path: Path, elem: object, source: BinaryIO, encoding: tuple[str, bool], tag: BaseTag
) -> int | None:
    """Where the last element ends in `source`; None where it cannot be told.
    A sequence of undefined length ends past its delimiter: one read as raw
    bytes must have it there; one the reader parsed (as it does those) is
    stepped over again (little endian, in a file small enough to read whole)."""
    order, implicit = encoding
    tell, length = getattr(elem, "value_tell", None), getattr(elem, "length", None)
    if tell is not None and length is not None and length != UNDEFINED:
        return tell + length
    value = getattr(elem, "value", None)
    if tell is not None and isinstance(value, bytes):
        source.seek(tell + len(value))
        if source.read(HEADER_BYTES) != struct.pack(order + "HHL", 0xFFFE, 0xE0DD, 0):
            raise InputFileError(
                f"{path}: truncated: the file ends inside ({tag.group:04X},{tag.element:04X}) "
                "(no delimiter)"
            )
        return tell + len(value) + HEADER_BYTES
    start = getattr(elem, "file_tell", None)
    if start is None or order != "<" or source.seek(0, os.SEEK_END) > IN_MEMORY_BYTES:
        return None
    source.seek(0)
    try:
        return skip_sequence(source.read(), start, implicit)
    except (CannotTell, struct.error):
        return None


def _check_complete(path: Path, ds: Dataset, pixels_read: bool = True) -> None:
    """A file cut short often still parses: the reader returns whatever bytes
    are left for the last element. Its declared length and native pixel data
    show it. Only the last element can be short: the reader stops at the end of
    the file, so every element before it was read whole."""
    last = next(reversed(ds.keys()), None)
    raw = ds.get_item(last, keep_deferred=True) if last is not None else None
    declared = getattr(raw, "length", None)
    value = getattr(raw, "value", None)
    if value is None and declared not in (None, 0, 0xFFFFFFFF):  # deferred: not read
        size = os.stat(path).st_size
        end = getattr(raw, "value_tell", 0) + declared
        if end > size:
            raise InputFileError(
                f"{path}: truncated: element ({last.group:04X},{last.element:04X}) declares "
                f"{declared} bytes, the file holds {max(size - raw.value_tell, 0)}"
            )
    if (
        isinstance(value, bytes)
        and declared is not None
        and declared != 0xFFFFFFFF
        and len(value) < declared
    ):
        raise InputFileError(
            f"{path}: truncated: element ({last.group:04X},{last.element:04X}) declares "
            f"{declared} bytes, the file holds {len(value)}"
        )
    if not pixels_read:
        return  # a scan reads headers: one without an image's pixels is still read
    _check_image(path, ds)
    expected = native_pixel_bytes(ds) if "PixelData" in ds else None
    if expected is None:
        return
    actual = len(ds.PixelData or b"")
    if actual < expected:
        raise InputFileError(
            f"{path}: truncated: pixel data has {actual} bytes, image needs {expected}"
        )


# The Image Pixel module's Type 1 attributes, and the elements that can hold
# the pixels (one is required); a file cut short at an element boundary
# before them still parses.
IMAGE_PIXEL_TYPE1 = (
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "Rows",
    "Columns",
    "BitsAllocated",
    "PixelRepresentation",
)
PIXELS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData", "PixelDataProviderURL")


def is_image_storage(sop_class: str) -> bool:
    """An image IOD, by its name in the standard's UID registry (pydicom's
    generated table): "CT Image Storage", "Enhanced MR Image Storage"..."""
    uid = UID(sop_class)
    return uid.type == "SOP Class" and "Image Storage" in uid.name


def native_pixel_bytes(ds: Dataset) -> int | None:
    """The bytes native (not encapsulated) PixelData holds by the image's
    attributes, its padding byte not counted; None where they cannot tell.
    The header alone answers (a scan reads no pixel data)."""
    if transfer_syntax(ds).is_compressed:
        return None
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        bits = int(ds.BitsAllocated)
        spp = int(ds.get("SamplesPerPixel", 1) or 1)
        frames = int(ds.get("NumberOfFrames", 1) or 1)
    except (AttributeError, TypeError, ValueError):
        return None
    if min(rows, cols, bits, spp, frames) < 1:
        return None
    if str(ds.get("PhotometricInterpretation", "")) == "YBR_FULL_422":
        spp = 2  # chroma shared by two pixels: two samples per pixel on average
    return (rows * cols * spp * frames * bits + 7) // 8


def surplus_pixel_bytes(ds: Dataset, length: int) -> int:
    """How many of native PixelData's `length` bytes lie after its last
    frame (beyond the one byte that pads an odd length): no part of the
    image, never examined as one, and a place to hide a name."""
    expected = native_pixel_bytes(ds)
    if expected is None or length == UNDEFINED:
        return 0
    return max(0, length - expected - expected % 2)


def drop_pixel_surplus(ds: Dataset) -> int:
    """Remove what native PixelData holds after its last frame; how many
    bytes that was. Decoding read frames from them (a frame's worth put a
    strip where the image was, and its burned-in name went unseen)."""
    surplus = surplus_pixel_bytes(ds, len(ds.PixelData or b"")) if "PixelData" in ds else 0
    if surplus:
        image = native_pixel_bytes(ds) or 0
        ds.PixelData = ds.PixelData[:image] + b"\0" * (image % 2)
    return surplus


def _check_image(path: Path, ds: Dataset) -> None:
    sop_class = str(ds.get("SOPClassUID", "") or "").strip()
    if not sop_class or not is_image_storage(sop_class):
        return
    missing = [k for k in IMAGE_PIXEL_TYPE1 if k not in ds]
    if not any(k in ds for k in PIXELS):
        missing.append("PixelData")
    if missing:
        raise InputFileError(
            f"{path}: an image ({UID(sop_class).name}) without {', '.join(missing)}: cut "
            "short at an element boundary? not a valid image to write"
        )
    frames = ds.get("NumberOfFrames")
    if isinstance(frames, int) and frames < 1:  # read as one frame, the rest lost as surplus
        raise InputFileError(f"{path}: NumberOfFrames is {frames}: an image has at least one")


def transfer_syntax(ds: Dataset) -> UID:
    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    if ts:
        return UID(ts)
    implicit, little = getattr(ds, "original_encoding", (True, True))
    if implicit in (None, True):
        return pydicom.uid.ImplicitVRLittleEndian
    return pydicom.uid.ExplicitVRLittleEndian if little else pydicom.uid.ExplicitVRBigEndian


def with_transfer_syntax(ds: Dataset) -> UID:
    """The syntax the data set was read in, also written into its meta where
    the file had none (a headerless data set), so its pixels can be decoded."""
    ts = transfer_syntax(ds)
    meta = getattr(ds, "file_meta", None)
    if meta is None or "TransferSyntaxUID" not in meta:
        ds.file_meta = meta if meta is not None else FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ts
    return ts


# Letters and digits (str.isalnum, any script), "_", "." and "-".
_NAME_PART = re.compile(r"[\w.-]+")


def output_path(out: Path, patient: str, study_uid: str, series_uid: str, sop_uid: str) -> Path:
    """<out>/<patient pseudonym>/<study>/<series>/<sop>.dcm, from pseudonyms only."""
    parts = [patient, study_uid, series_uid, sop_uid]
    for part in parts:
        if _NAME_PART.fullmatch(part) is None or part in (".", ".."):
            raise InputFileError(f"cannot name output from value {part!r}")
    return out.joinpath(*parts[:3], parts[3] + ".dcm")


def prefetch(paths: Iterable[str]) -> None:
    """Ask the kernel to start reading files a worker will open soon.

    Workers read a file, then spend CPU on it; on an archive larger than the
    page cache every read waits on the disk while the core idles. Reading
    ahead the files already queued overlaps that wait with work. Advice
    only: a file that cannot be opened is the worker's to report.
    """
    advise = getattr(os, "posix_fadvise", None)
    if advise is None:
        return
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            advise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
        except OSError:
            pass
        finally:
            os.close(fd)
