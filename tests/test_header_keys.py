"""The main process's header walk (deid.header_keys) reads what pydicom reads,
or says it cannot tell: claims must not depend on which reader answered."""

from __future__ import annotations

import tempfile
import warnings
from io import BytesIO
from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filereader import read_partial
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from deid import claims
from deid.header_keys import top_level_values
from tests.conformance import dicom_files, shipped_roots

TAGS = frozenset(claims._TAGS)


def by_pydicom(head: bytes) -> list[str] | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = read_partial(
                BytesIO(head), stop_when=claims._past_series, defer_size=4096, force=True
            )
    except Exception:  # noqa: BLE001 - pydicom cannot read it: nothing to compare
        return None
    return [str(ds.get(k, "") or "").strip() for k in claims._KEYS]


def test_every_shipped_file_reads_as_pydicom_reads_it_or_is_left_to_pydicom():
    files = dicom_files(*shipped_roots())
    answered = 0
    for path in files:
        head = path.read_bytes()[: claims.HEAD_BYTES]
        fast = top_level_values(head, TAGS)
        if fast is None:
            continue
        answered += 1
        assert [fast[t] for t in claims._TAGS] == by_pydicom(head), path
    # Most files are walked (the rest: big endian, deflated, no preamble, non-ASCII names).
    assert answered > 0.6 * len(files), (answered, len(files))


def written(ds: Dataset, syntax: str) -> bytes:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buf = BytesIO()
    ds.save_as(buf, implicit_vr=syntax == ImplicitVRLittleEndian,
               little_endian=syntax != ExplicitVRBigEndian, enforce_file_format=True)  # fmt: skip
    return buf.getvalue()


def identified(name: str = "DOE^JANE") -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = "1.2.3.4.5"
    inner = Dataset()
    inner.ReferencedSOPInstanceUID = "9.9.9"
    inner.CodeMeaning = "nested " * 10
    ds.ReferencedImageSequence = Sequence([inner, Dataset()])
    block = ds.private_block(0x0009, "ACME", create=True)
    block.add_new(0x01, "SQ", Sequence([inner]))
    block.add_new(0x02, "LO", "private")
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = name, "ID-7 ", "19700101"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "1.2.3", "1.2.3.4"
    ds.Modality = "OT"
    return ds


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
@pytest.mark.parametrize("undefined", [False, True])
def test_sequences_before_the_uids_are_stepped_over(syntax, undefined):
    ds = identified()
    private = ds.private_block(0x0009, "ACME")[0x01]
    for element in (ds["ReferencedImageSequence"], private):
        element.is_undefined_length = undefined
        for item in element.value:
            item.is_undefined_length_sequence_item = undefined
    head = written(ds, syntax)
    assert (b"\xfe\xff\xdd\xe0" in head) == undefined  # sequence delimiters written
    fast = top_level_values(head, TAGS)
    assert fast is not None
    assert [fast[t] for t in claims._TAGS] == by_pydicom(head)
    assert fast[0x00100020] == "ID-7" and fast[0x0020000E] == "1.2.3.4"


@pytest.mark.parametrize(
    "case",
    ["big endian", "not ASCII", "two values", "cut short", "no preamble"],
)
def test_what_it_cannot_read_as_pydicom_does_is_left_to_pydicom(case):
    ds = identified("MÜLLER^JO" if case == "not ASCII" else "DOE^JANE")
    if case == "not ASCII":
        ds.SpecificCharacterSet = "ISO_IR 100"
    if case == "two values":
        ds.PatientID = ["A", "B"]
    head = written(ds, ExplicitVRBigEndian if case == "big endian" else ExplicitVRLittleEndian)
    if case == "cut short":
        head = head[: head.index(b"1.2.3.4\x00")]
    if case == "no preamble":
        head = head[132:]
    assert top_level_values(head, TAGS) is None


def _moved_after_series(head: bytes, element: bytes) -> bytes:
    """The header with `element` taken out and put after SeriesInstanceUID
    (out of order: pydicom reads it, since it stops only past that UID)."""
    head = head.replace(element, b"")
    at = head.index(b"\x20\x00\x0e\x00UI")
    end = at + 8 + int.from_bytes(head[at + 6 : at + 8], "little")
    return head[:end] + element + head[end:]


@pytest.mark.parametrize("case", ["after the series UID", "name groups", "binary VR"])
def test_crafted_headers_read_as_pydicom_reads_them(case):
    ds = identified("DOE^JANE")
    ds.PatientID = "ID-7"
    head = written(ds, ExplicitVRLittleEndian)
    element = b"\x10\x00\x20\x00LO\x04\x00ID-7"
    assert head.count(element) == 1
    if case == "after the series UID":
        head = _moved_after_series(head, element)
    if case == "name groups":  # empty trailing groups: pydicom drops them
        name = b"\x10\x00\x10\x00PN\x08\x00DOE^JANE"
        head = head.replace(name, b"\x10\x00\x10\x00PN\x0a\x00DOE^JANE==")
    if case == "binary VR":  # PatientID written as US: pydicom shows a number
        head = head.replace(element, b"\x10\x00\x20\x00US\x04\x00ID-7")
    fast = top_level_values(head, TAGS)
    if fast is not None:
        assert [fast[t] for t in claims._TAGS] == by_pydicom(head)
    if case == "after the series UID":
        assert fast is not None and fast[0x00100020] == "ID-7"
    if case == "name groups":
        assert by_pydicom(head)[1] == "DOE^JANE"


def test_sequences_nested_beyond_reason_are_left_to_pydicom():
    """A crafted header: 6 000 undefined-length sequences, each in the
    previous one's item, before the UIDs (16 bytes a level)."""
    head = written(identified(), ExplicitVRLittleEndian)
    start = head.index(b"\x08\x00\x16\x00")  # SOPClassUID: the data set's first element
    level = b"\x08\x00\x40\x11SQ\x00\x00\xff\xff\xff\xff" + b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
    nested = head[:start] + level * 6000 + head[start:]
    assert top_level_values(nested, TAGS) is None


def test_a_key_with_a_vr_pydicom_does_not_know_claims_nothing_and_raises_nothing():
    """Found by fuzzing: pydicom decodes on first access, so an unknown VR
    ("TI") raised only when the value was read, outside the guarded read."""
    head = written(identified(), ExplicitVRLittleEndian)
    at = head.index(b"\x08\x00\x18\x00UI")
    assert claims._values(head[: at + 4] + b"TI" + head[at + 6 :]) is None


def test_claims_give_one_object_whichever_reader_answers(tmp_path: Path):
    """An identical object read by the walk and by pydicom (the same values,
    big endian) claims the same: the second is told who came first."""
    little, big = tmp_path / "little.dcm", tmp_path / "big.dcm"
    little.write_bytes(written(identified(), ExplicitVRLittleEndian))
    big.write_bytes(written(identified(), ExplicitVRBigEndian))
    found = claims.Claims(b"k" * 32)
    try:
        assert found.earlier(little) is None
        assert found.earlier(big) == str(little)
    finally:
        found.close()


def test_claims_leave_no_file_behind_even_while_open(tmp_path, monkeypatch):
    # The claims table holds input paths (which may name patients): a named
    # temporary file outlived `kill -9`. SQLite's anonymous database spills
    # to a file it has already unlinked.
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setenv("SQLITE_TMPDIR", str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", None)
    table = claims.Claims(b"k" * 32)
    try:
        for i in range(30000):  # beyond SQLite's page cache: spilled to disk
            table._db.execute("INSERT INTO claim VALUES (?, ?, 0)", (b"%032d" % i, b"/in/Doe^Jane"))
        assert table._db.execute("SELECT count(*) FROM claim").fetchone() == (30000,)
        assert list(tmp_path.iterdir()) == []
    finally:
        table.close()
