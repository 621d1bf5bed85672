"""Names in non-ASCII character sets are found and removed like any other."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from click.testing import CliRunner

from deid.cli import main

CT = Path(pydicom.__file__).parent / "data" / "test_files" / "CT_small.dcm"


@pytest.mark.parametrize(
    ("charset", "name", "encoding", "needles"),
    [
        ("ISO_IR 192", "Yamada^Tarou=山田^太郎=やまだ^たろう", "utf-8", ["山田", "太郎", "やまだ"]),
        ("ISO_IR 100", "Müller^Jörg", "latin-1", ["Müller", "Jörg"]),
    ],
)
def test_non_ascii_names_leave_no_bytes(tmp_path, env_key, charset, name, encoding, needles):
    ds = pydicom.dcmread(CT)
    ds.SpecificCharacterSet = charset
    ds.PatientName = name
    ds.StudyDescription = f"CT HEAD {needles[0]}{needles[1]}"
    ds.OperatorsName = name
    source = tmp_path / "in.dcm"
    ds.save_as(source)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["run", str(source), "-o", str(out), "-q", "--option", "clean-descriptors"]
    )
    assert result.exit_code == 0, result.output
    (path,) = list(out.rglob("*.dcm"))
    raw = path.read_bytes()
    for needle in needles:
        assert needle.encode(encoding) not in raw
    assert pydicom.dcmread(path).StudyDescription == "CT HEAD"
