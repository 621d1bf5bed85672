"""`deid scan`'s data-set risk on files built by code: classes are exact."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from deid.cli import main
from fixtures.risk_corpus import write_patients


def scan(*args: str):
    return CliRunner().invoke(main, ["scan", *args, "--format", "json", "--pixels", "off"])


def test_patients_with_different_devices_never_merge(tmp_path: Path) -> None:
    """One patient scanned once on {ACME, model Z}; another on two devices,
    {ACME} and {Z}. Joined into text both read `ACME|Z`: one class, k = 2."""
    folder = write_patients(
        tmp_path / "in",
        [
            ("A", [{"Manufacturer": "ACME", "ManufacturerModelName": "Z"}]),
            ("B", [{"Manufacturer": "ACME"}, {"Manufacturer": "Z"}]),
        ],
    )
    result = scan(str(folder), "--qi", "Device")
    risk = json.loads(result.output)["dataset_risk"]
    assert (risk["equivalence_classes"], risk["k_anonymity"]) == (2, 1)


def test_unknown_quasi_identifier_is_refused(tmp_path: Path) -> None:
    """An attribute no file can have would make every patient look alike
    (k = the whole data set): one line, exit 2, before any file is read."""
    folder = write_patients(tmp_path / "in", [("A", [{"PatientSex": "F"}])])
    result = scan(str(folder), "--qi", "NoSuchAttribute")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: --qi NoSuchAttribute: not a DICOM keyword nor a derived name "
        "(BirthYear, Device, PatientAge, StudyYearMonth, ZIP)"
    ]
    assert scan(str(folder), "--sensitive", "NoSuchAttribute").exit_code == 2
    assert scan(str(folder), "--qi", "ReferencedImageSequence").exit_code == 2  # a sequence


def test_numbers_compare_as_numbers_and_the_profile_rounding_applies(tmp_path: Path) -> None:
    """70, 70.0 and 70.00 kg are one weight; gdpr-anonymise rounds weights to
    5 kg, so 71 kg joins them when scanned against it."""
    folder = write_patients(
        tmp_path / "in",
        [
            ("A", [{"PatientWeight": "70"}]),
            ("B", [{"PatientWeight": "70.0"}]),
            ("C", [{"PatientWeight": "70.00"}]),
            ("D", [{"PatientWeight": "71"}]),
        ],
    )
    plain = json.loads(scan(str(folder), "--qi", "PatientWeight").output)["dataset_risk"]
    assert [c["size"] for c in plain["class_sizes"]] == [1, 3]
    rounded = scan(str(folder), "--qi", "PatientWeight", "--profile", "gdpr-anonymise")
    assert json.loads(rounded.output)["dataset_risk"]["class_sizes"] == [
        {"size": 4, "classes": 1, "patients": 4}
    ]
