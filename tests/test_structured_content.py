"""Structured reports and graphics: text is replaced, or cleaned under the option."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from click.testing import CliRunner

from deid.cli import main

SR = Path(pydicom.__file__).parent / "data" / "test_files" / "test-SR.dcm"


@pytest.fixture
def sr_with_phi(tmp_path: Path) -> Path:
    ds = pydicom.dcmread(SR)
    ds.PatientName = "QUIXOTE^ALONSO"
    ds.PatientID = "MRN4821337"
    items = [i for i in ds.iterall() if i.keyword == "TextValue"]
    assert items, "the source SR has text items"
    for elem in items:
        elem.value = "Mass seen in Alonso Quixote (MRN4821337) on 2023-03-14, 3 cm"
    path = tmp_path / "sr.dcm"
    ds.save_as(path)
    return path


def _texts(out: Path) -> list[str]:
    (path,) = list(out.rglob("*.dcm"))
    ds = pydicom.dcmread(path)
    return [str(e.value) for e in ds.iterall() if e.keyword == "TextValue"]


def test_sr_text_replaced_by_default_measurements_kept(sr_with_phi, tmp_path, env_key):
    """TextValue is X in the table but Type 1C in a TEXT content item: the
    item keeps a dummy so the report stays valid, and none of the text."""
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(sr_with_phi), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    source = [e for e in pydicom.dcmread(sr_with_phi).iterall() if e.keyword == "TextValue"]
    assert _texts(out) == ["ANONYMOUS"] * len(source)
    (path,) = list(out.rglob("*.dcm"))
    ds = pydicom.dcmread(path)
    assert [str(e.value) for e in ds.iterall() if e.keyword == "NumericValue"]
    assert any(e.keyword == "ConceptNameCodeSequence" for e in ds.iterall())


def test_sr_text_cleaned_with_clean_structured_content(sr_with_phi, tmp_path, env_key):
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main,
        ["run", str(sr_with_phi), "-o", str(out), "-q", "--option", "clean-structured-content"],
    )
    assert result.exit_code == 0, result.output
    texts = _texts(out)
    assert texts and all(t == "Mass seen in on, 3 cm" for t in texts), texts
    joined = " ".join(texts).lower()
    for value in ("alonso", "quixote", "mrn4821337", "2023-03-14"):
        assert value not in joined


def _subject_item(
    value_type: str, code: str, meaning: str, scheme: str = "DCM"
) -> pydicom.Dataset:
    from pydicom.dataset import Dataset

    item, name = Dataset(), Dataset()
    item.RelationshipType, item.ValueType = "HAS OBS CONTEXT", value_type
    name.CodeValue, name.CodingSchemeDesignator, name.CodeMeaning = code, scheme, meaning
    item.ConceptNameCodeSequence = [name]
    return item


@pytest.mark.parametrize(
    ("profile", "birth_kept", "age_kept"),
    [
        ("hipaa-safe-harbor", False, False),  # 090Y, no birth year over 89
        ("gdpr-anonymise", False, False),  # five-year bands
        ("basic", False, False),
        ("tcia", False, True),  # the header's age kept as it is, its birth date emptied
        ("gdpr-pseudonymise", True, True),  # birth date shifted as the header's
    ],
)
@pytest.mark.parametrize(
    "codes",
    [("DCM", "121031", "121033"), ("LN", "21112-8", "30525-0"), ("SCT", "184099003", "397659008")],
    ids=["DCM", "LOINC", "SNOMED"],
)
def test_an_srs_subject_birth_date_and_age_follow_the_headers_rules(
    tmp_path, env_key, profile, birth_kept, age_kept, codes
):
    """The header's age 93 became 090Y and its birth date went (Safe Harbor),
    while the SR's Subject Age stayed 93 and its Subject Birth Date kept the
    year 1929. Such items go where the profile changes the header's values
    otherwise than a content item's own rule would."""
    from pydicom.dataset import Dataset

    ds = pydicom.dcmread(SR)
    ds.PatientBirthDate, ds.PatientAge = "19291201", "093Y"
    scheme, birth_code, age_code = codes
    birth = _subject_item("DATE", birth_code, "Subject Birth Date", scheme)
    birth.Date = "19291201"
    age = _subject_item("NUM", age_code, "Subject Age", scheme)
    measured, unit = Dataset(), Dataset()
    unit.CodeValue, unit.CodingSchemeDesignator, unit.CodeMeaning = "a", "UCUM", "year"
    measured.NumericValue, measured.MeasurementUnitsCodeSequence = "93", [unit]
    age.MeasuredValueSequence = [measured]
    ds.ContentSequence[0].ContentSequence = [birth, age]  # nested: found at any depth
    source = tmp_path / "sr.dcm"
    ds.save_as(source)
    out = tmp_path / "out"
    args = ["run", str(source), "-o", str(out), "-q", "--profile", profile]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    (path,) = list(out.rglob("*.dcm"))
    written = pydicom.dcmread(path)
    dates = [str(e.value) for e in written.iterall() if e.keyword == "Date"]
    numbers = [str(e.value) for e in written.iterall() if e.keyword == "NumericValue"]
    meanings = [str(e.value) for e in written.iterall() if e.keyword == "CodeMeaning"]
    assert ("Subject Birth Date" in meanings) == birth_kept
    assert ("Subject Age" in meanings) == age_kept and ("93" in numbers) == age_kept
    assert not any(d.startswith("1929") for d in dates)


def test_removing_a_subject_item_keeps_references_and_names_no_input_text(tmp_path, env_key):
    """A by-reference relationship counts items by position: a removed item
    shifted every later target (an invalid report). The report named the
    removed item by the file's own CodeMeaning, which may say anything."""
    from pydicom.dataset import Dataset

    ds = pydicom.dcmread(SR)
    ds.PatientBirthDate = "19291201"
    birth = _subject_item("DATE", "121031", "Birth date of Leakworthy Lucinda")
    birth.Date = "19291201"
    root = list(ds.ContentSequence)
    target = len(root) + 1  # after the birth date goes first: one earlier
    pointer = Dataset()
    pointer.RelationshipType, pointer.ReferencedContentItemIdentifier = "CONTAINS", [1, target + 1]
    ds.ContentSequence = [birth, *root, pointer]
    source = tmp_path / "sr.dcm"
    ds.save_as(source)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(source), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    (path,) = list(out.rglob("*.dcm"))
    written = pydicom.dcmread(path)
    assert len(written.ContentSequence) == len(root) + 1
    assert list(written.ContentSequence[-1].ReferencedContentItemIdentifier) == [1, target]
    for report in out.glob("*"):
        if report.is_file():
            assert b"Leakworthy" not in report.read_bytes(), report.name
    # A reference to the removed item itself cannot be kept: the file fails.
    pointer.ReferencedContentItemIdentifier = [1, 1]
    ds.ContentSequence = [birth, *root, pointer]
    ds.save_as(source)
    failed = CliRunner().invoke(main, ["run", str(source), "-o", str(tmp_path / "o2"), "-q"])
    assert failed.exit_code == 3 and "by-reference" in failed.output


@pytest.mark.parametrize("vr", ["OB", "LO", "UT"])
def test_a_content_sequence_in_another_vr_is_no_crash(tmp_path, env_key, vr):
    ds = pydicom.dcmread(SR)
    tag = 0x0040A730
    ds[tag] = pydicom.DataElement(tag, vr, b"not a sequence" if vr == "OB" else "not one")
    source = tmp_path / "sr.dcm"
    ds.save_as(source)
    result = CliRunner().invoke(main, ["run", str(source), "-o", str(tmp_path / "out"), "-q"])
    assert result.exit_code in (0, 1), result.output
    assert "while deciding" not in result.output


@pytest.mark.parametrize(
    ("code", "scheme", "meaning", "kept"),
    [
        ("4147007", "SCT", "Mass", True),  # the standard's meaning: vocabulary
        ("103339001", "SCT", "Long axis", True),
        ("M-03000", "SRT", "Mass", True),  # SNOMED's older code for it (reports before 2019)
        ("99X1", "99PRIV", "Mass", False),  # a private code's meaning: text like any other
        ("389081007", "SCT", "Mass lesion size", False),  # not this code's meaning
    ],
)
def test_a_code_meaning_of_the_standards_tables_is_not_the_patients_name(
    tmp_path, env_key, code, scheme, meaning, kept
):
    """Patients named Mass and Long had SNOMED's "Mass" SR withheld and
    "Long Axis" cut to "Axis": a code's own meaning is the vocabulary's."""
    ds = pydicom.dcmread(SR)
    ds.PatientName = "MASS^PETER" if "Mass" in meaning else "LONG^MEI"
    concept = ds.ContentSequence[0].ConceptNameCodeSequence[0]
    concept.CodeValue, concept.CodingSchemeDesignator, concept.CodeMeaning = code, scheme, meaning
    source = tmp_path / "sr.dcm"
    ds.save_as(source)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["run", str(source), "-o", str(out), "-q"])
    written = list(out.rglob("*.dcm"))
    meanings = []
    if written:
        item = pydicom.dcmread(written[0]).ContentSequence[0].ConceptNameCodeSequence[0]
        meanings = [str(item.CodeMeaning)]
    assert (meanings == [meaning]) == kept, (result.output, meanings)
