"""A kept attribute that still holds the file's own identifier is cleaned
and the file verified again, rather than the file withheld."""

from __future__ import annotations

from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file

from deid.process import process_file
from deid.repair import locate
from tests.helpers import run_settings


def _run(ds: pydicom.Dataset, tmp_path: Path):
    source = tmp_path / "in.dcm"
    ds.save_as(source)
    settings = run_settings(
        inputs=[source], output=tmp_path / "out", random_key=True, pixels="off", face="off"
    )
    return process_file(source, settings), tmp_path / "out"


def test_institution_inside_a_kept_manufacturer_is_cleaned_not_withheld(tmp_path):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.InstitutionName = "QUIXOTE CLINIC"
    ds.Manufacturer = "QUIXOTE CLINIC SCANNERS"
    result, out = _run(ds, tmp_path)
    assert result.status == "written", result.reason
    assert [f.rule for f in result.findings if f.rule.startswith("verify")] == ["verify.repaired"]
    written = pydicom.dcmread(out / result.output)
    assert "QUIXOTE" not in str(written.Manufacturer).upper()
    assert "SCANNERS" in str(written.Manufacturer)


def test_a_required_code_that_cleaning_would_empty_is_still_withheld(tmp_path):
    # One word of a name in a code is still a finding: "KOWALSKA" alone in a
    # kept CS value is the name. Only a whole value that is a word of the
    # standard is a code (below); "MONOCHROME" is part of one here.
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientName = "MONOCHROME^QUIXOTE"  # part of PhotometricInterpretation, Type 1
    result, _ = _run(ds, tmp_path)
    assert result.status == "withheld"
    where = {f.location for f in result.findings if f.rule == "verify.residual-phi"}
    assert "PhotometricInterpretation" in where


def test_mr_heads_head_ct_is_written_with_its_body_part(tmp_path):
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientName = "Head^Perfusion"
    ds.BodyPartExamined = "HEAD"
    ds.ImageType = ["DERIVED", "PRIMARY", "PERFUSION"]
    result, out = _run(ds, tmp_path)
    assert result.status == "written", result.reason
    written = pydicom.dcmread(out / result.output)
    assert (written.BodyPartExamined, written.ImageType[2]) == ("HEAD", "PERFUSION")
    assert "Head" not in str(written.PatientName)


def test_locate_follows_sequence_paths():
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    item = pydicom.Dataset()
    item.CodeMeaning = "found"
    ds.ProcedureCodeSequence = [pydicom.Dataset(), item]
    elem, parents = locate(ds, "ProcedureCodeSequence[1].CodeMeaning")
    assert elem.value == "found" and parents == (0x00081032,)
    assert locate(ds, "ProcedureCodeSequence[5].CodeMeaning") is None
    assert locate(ds, "NoSuchKeyword") is None


def test_a_kept_person_name_holding_the_patients_name_is_withheld(tmp_path):
    """Verification reads a kept PN value as the name it is (it used to join
    the name's characters with backslashes and never matched)."""
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientName = "QUIXOTE^ALONSO"
    ds.PatientMotherBirthName = "QUIXOTE^MADRE"
    profile = tmp_path / "leaky.toml"
    profile.write_text(
        '[profile]\nname = "leaky"\nextends = "basic"\n\n'
        '[[rules]]\nmatch = "PatientMotherBirthName"\naction = "K"\n'
    )
    source = tmp_path / "in.dcm"
    ds.save_as(source)
    settings = run_settings(inputs=[source], output=tmp_path / "out", profile=str(profile),
                            random_key=True, pixels="off", face="off")
    result = process_file(source, settings)
    assert result.status == "withheld"
    assert any(f.location == "PatientMotherBirthName" for f in result.findings)
