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
