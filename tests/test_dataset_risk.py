"""`deid scan`'s data-set risk on files built by code: classes are exact."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from deid.cli import main
from deid.risk import population as pop
from fixtures.risk_corpus import corpus_305, write_patients


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


@pytest.fixture(scope="module")
def corpus305(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """The issue's cross-check corpus and its table, computed without deid:
    one row per patient, values as numbers where they are numbers."""
    folder = tmp_path_factory.mktemp("corpus305")
    people = corpus_305(folder)
    rows = []
    for person in people:
        given = person.get("PatientAge")
        born = person.get("PatientBirthDate")
        rows.append(
            {
                "sex": person["PatientSex"],
                "age": int(given[:3]) if given else 2023 - int(born[:4]),
                "birth_year": born[:4] if born else "",
                "weight": float(person["PatientWeight"]),
                "size": float(person["PatientSize"]),
                "year_month": person["StudyDate"][:6],
                "description": person["SeriesDescription"],
            }
        )
    frame = pd.DataFrame(rows)
    # A description counts only when fewer than k = 5 patients share it.
    users = frame["description"].map(frame["description"].value_counts())
    frame["description"] = frame["description"].where(users < 5, "")
    return folder, frame


QI_COLUMNS = ["sex", "age", "birth_year", "weight", "size", "year_month", "description"]


def test_305_patients_match_an_independent_computation(corpus305) -> None:
    folder, frame = corpus305
    result = scan(str(folder), "--sensitive", "BodyPartExamined", "--population", "3050")
    report = json.loads(result.output)
    risk = report["dataset_risk"]
    assert report["dataset_gate"]["failed"] is None  # reported, not gated
    sizes = frame.groupby(QI_COLUMNS).size()
    n = len(frame)
    assert risk["records"] == n == 305
    assert risk["equivalence_classes"] == len(sizes)
    assert risk["k_anonymity"] == sizes.min()
    assert risk["share_below_k"] == pytest.approx(sizes[sizes < 5].sum() / n, abs=1e-6)
    assert risk["sample_uniques"] == (sizes == 1).sum()
    assert risk["prosecutor_risk"]["average"] == pytest.approx(len(sizes) / n, abs=1e-6)
    assert risk["prosecutor_risk"]["average_over_classes"] == pytest.approx(
        (1 / sizes).mean(), abs=1e-6
    )
    histogram = sizes.value_counts().sort_index()
    assert [(c["size"], c["classes"]) for c in risk["class_sizes"]] == list(histogram.items())
    zayatz = risk["population"]["estimators"]["zayatz"]["population_uniques"]
    assert zayatz == pytest.approx(pop.zayatz(histogram.to_dict(), 3050).uniques, abs=1e-6)
    assert risk["journalist_risk"]["max"] < risk["prosecutor_risk"]["max"]


def test_pycanon_agrees_on_k_l_and_risk(corpus305) -> None:
    """pyCANON (optional: `pip install --no-deps pycanon`, see README) on the same
    table. Its average_rir averages 1/|class| over classes; deid's prosecutor
    average is over patients (ARX) and it reports pyCANON's as average_over_classes."""
    pycanon = pytest.importorskip("pycanon")
    from pycanon import anonymity, metrics

    assert pycanon
    folder, frame = corpus305
    frame = frame.astype(str)  # pyCANON's groupby drops missing values: none here
    frame["part"] = ["HEAD" if i % 3 else "CHEST" for i in range(len(frame))]
    result = scan(str(folder), "--sensitive", "BodyPartExamined")
    risk = json.loads(result.output)["dataset_risk"]
    assert risk["k_anonymity"] == anonymity.k_anonymity(frame, QI_COLUMNS)
    assert risk["prosecutor_risk"]["max"] == pytest.approx(metrics.max_rir(frame, QI_COLUMNS))
    assert risk["prosecutor_risk"]["average_over_classes"] == pytest.approx(
        metrics.average_rir(frame, QI_COLUMNS), abs=1e-6
    )
    assert risk["l_diversity"]["distinct_l"] == anonymity.l_diversity(frame, QI_COLUMNS, ["part"])
    # pyCANON truncates entropy l to an integer.
    entropy = anonymity.entropy_l_diversity(frame, QI_COLUMNS, ["part"])
    assert int(risk["l_diversity"]["entropy_l"] + 1e-9) == entropy


def test_every_report_carries_the_data_set_risk(tmp_path: Path) -> None:
    """report.json, findings.csv, SARIF, report.html and the terminal."""
    people = [("F", 40 + i % 3, "HEAD") for i in range(6)] + [("M", 71, "CHEST"), ("M", 74, "HEAD")]
    folder = write_patients(
        tmp_path / "in",
        [
            (f"P{i}", [{"PatientSex": sex, "PatientAge": f"{age:03d}Y", "BodyPartExamined": part}])
            for i, (sex, age, part) in enumerate(people)
        ],
    )
    reports = tmp_path / "reports"
    args = ["--qi", "PatientSex", "--qi", "PatientAge", "--sensitive", "BodyPartExamined"]
    args += ["-k", "2", "--pixels", "off", "--report-dir", str(reports)]
    result = CliRunner().invoke(main, ["scan", str(folder), *args])
    report = json.loads((reports / "report.json").read_text())
    assert report["schema"] == "deid-scan/2.0"
    risk = report["dataset_risk"]
    # Classes: F40 x2, F41 x2, F42 x2, M71, M74 -> k 1, two sample uniques;
    # 5-year bands: F 40-44 x6, M 70-74 x2 -> k 2 (the threshold).
    assert (risk["k_anonymity"], risk["sample_uniques"]) == (1, 2)
    assert risk["advice"][0] == (
        "generalise PatientAge to 5-year bands: k 1 -> 2, below-k 25.0 % -> 0.0 %, "
        "sample uniques 2 -> 0"
    )
    rules = {f["rule"] for f in report["dataset_findings"]}
    assert {"dataset.k-anonymity", "dataset.quasi-identifier", "dataset.l-diversity"} <= rules
    frame = pd.read_csv(reports / "findings.csv")
    assert set(frame[frame["rule"].str.startswith("dataset.")]["location"]) >= {
        "dataset", "dataset/PatientAge", "dataset/BodyPartExamined"
    }
    sarif = json.loads((reports / "report.sarif").read_text())
    assert {r["ruleId"] for r in sarif["runs"][0]["results"]} >= rules
    page = (reports / "report.html").read_text()
    assert page.count('<div class="bar">') == 2  # classes of 1 and of 2
    assert "generalise PatientAge to 5-year bands" in page
    assert "journalist risk: not estimated" in result.output
    assert "advice (each alone):" in result.output
    assert "data-set risk is reported, not gated" in result.output
