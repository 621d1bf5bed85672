"""k-anonymity and ARX attacker-model risks on a table small enough to do by hand."""

from __future__ import annotations

import math

import pytest

from deid.risk.advice import ClassCounter
from deid.risk.dataset import RiskSettings, assess
from deid.risk.kanon import patient_records, summarise
from deid.risk.quasi import QuasiIdentifier

QIS = ("PatientSex", "AgeBand")

# Six patients. Classes by (sex, age band, study count):
#   (M, 40, 1): p1 p2 p3   -> size 3
#   (F, 40, 1): p4 p5      -> size 2
#   (F, 70, 2): p6         -> size 1 (p6 has two studies)
ROWS = [
    ("p1", {"PatientSex": "M", "AgeBand": "40", "_study": "s1"}),
    ("p2", {"PatientSex": "M", "AgeBand": "40", "_study": "s2"}),
    ("p3", {"PatientSex": "M", "AgeBand": "40", "_study": "s3"}),
    ("p3", {"PatientSex": "M", "AgeBand": "40", "_study": "s3"}),  # second file, same study
    ("p4", {"PatientSex": "F", "AgeBand": "40", "_study": "s4"}),
    ("p5", {"PatientSex": "F", "AgeBand": "40", "_study": "s5"}),
    ("p6", {"PatientSex": "F", "AgeBand": "70", "_study": "s6"}),
    ("p6", {"PatientSex": "F", "AgeBand": "70", "_study": "s7"}),
]


def test_hand_computed_figures():
    records = dict(patient_records(ROWS, QIS))
    assert sorted(records) == ["p1", "p2", "p3", "p4", "p5", "p6"]
    risk = summarise(records.values(), threshold=3, quasi_identifiers=QIS)
    assert risk.classes == 3
    assert risk.k == 1
    # Below k=3: p4, p5 (class of 2) and p6 (class of 1) -> 3 of 6.
    assert risk.below_k_share == pytest.approx(3 / 6)
    assert risk.prosecutor_max == pytest.approx(1.0)
    # (3 * 1/3 + 2 * 1/2 + 1 * 1) / 6 = 3/6
    assert risk.prosecutor_avg == pytest.approx(0.5)
    assert risk.marketer == pytest.approx(3 / 6)
    assert risk.sample_uniques == 1 and risk.histogram == ((1, 1), (2, 1), (3, 1))
    # pyCANON's average: over classes, (1/3 + 1/2 + 1) / 3
    assert risk.prosecutor_avg_classes == pytest.approx((1 / 3 + 1 / 2 + 1) / 3, abs=1e-12)


def test_files_that_disagree_are_one_record_with_both_values():
    rows = [("p", {"AgeBand": "40", "_study": "a"}), ("p", {"AgeBand": "45", "_study": "b"})]
    ((_, record),) = patient_records(rows, ("AgeBand",))
    assert dict(record) == {"AgeBand": (("40",), ("45",)), "study_count": (("2",),)}


def test_empty_data_set():
    risk = summarise([], 5)
    assert risk.records == 0 and risk.k == 0


def test_rare_descriptions_count_common_ones_do_not():
    rows = [(f"p{i}", {"SeriesDescription": "AX T1", "_study": f"s{i}"}) for i in range(5)]
    rows.append(("p5", {"SeriesDescription": "AX T1", "_study": "s5"}))
    rows.append(("p5", {"SeriesDescription": "SCAN FOR DR HOUSE", "_study": "s5"}))
    records = dict(patient_records(rows, ("SeriesDescription",), ("SeriesDescription",), 5))
    assert dict(records["p0"])["SeriesDescription"] == ()  # shared by 6 patients
    assert dict(records["p5"])["SeriesDescription"] == (("SCAN FOR DR HOUSE",),)
    risk = summarise(records.values(), 5)
    assert risk.k == 1 and risk.classes == 2


def test_l_diversity_by_hand():
    """Classes by sex: F = {p1, p2, p3} with body parts HEAD, HEAD, CHEST;
    M = {p4, p5} both HEAD; X = {p6} CHEST. Distinct l = min(2, 1, 1) = 1;
    entropy l = min(exp(H_F), 1, 1) = 1; three patients (M and X) are in
    classes where everyone shares one body part."""
    rows = [
        (f"p{i}", {"PatientSex": sex, "BodyPartExamined": part, "_study": f"s{i}"})
        for i, (sex, part) in enumerate(
            [("F", "HEAD"), ("F", "HEAD"), ("F", "CHEST"), ("M", "HEAD"), ("M", "HEAD"),
             ("X", "CHEST")], start=1
        )
    ]  # fmt: skip
    records = [r for _, r in patient_records(rows, ("PatientSex", "BodyPartExamined"))]
    risk = summarise(records, 2, ("PatientSex",), sensitive="BodyPartExamined")
    assert (risk.classes, risk.k) == (3, 1)
    ld = risk.l_diversity
    assert (ld.distinct, ld.entropy, ld.homogeneous_share) == (1, pytest.approx(1.0), 0.5)
    # Without the two single-part classes: F alone gives exp(H) with
    # H = -(2/3 ln 2/3 + 1/3 ln 1/3).
    only_f = summarise(records[:3], 2, ("PatientSex",), sensitive="BodyPartExamined")
    h = -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3))
    assert only_f.l_diversity.distinct == 2
    assert only_f.l_diversity.entropy == pytest.approx(math.exp(h), abs=1e-12)


def test_advice_by_hand():
    """Six patients, each unique on (sex, age): F 40, 41, 43; M 50, 52, 57.
    5-year bands leave M 55-59 alone (k 1); 10-year bands give F 40-49 and
    M 50-59, three each (k 3, the threshold 2 reached): the advice. Removing
    the age makes all six uniques go; removing the sex none."""
    people = [("F", 40), ("F", 41), ("F", 43), ("M", 50), ("M", 52), ("M", 57)]
    rows = [
        (f"p{i}", {"PatientSex": (sex,), "PatientAge": (str(age),), "_study": f"s{i}"})
        for i, (sex, age) in enumerate(people)
    ]
    settings = RiskSettings(
        quasi=(
            QuasiIdentifier("PatientSex", 0x00100040, "CS"),
            QuasiIdentifier("PatientAge", None, ""),
        ),
        threshold=2,
    )
    risk = assess(rows, settings)
    assert (risk.summary.k, risk.summary.sample_uniques) == (1, 6)
    sex, age, studies = risk.attributes
    assert [(o.change.phrase, o.effect.k) for o in age.tried] == [
        ("group PatientAge 90 and over (HIPAA)", 1),
        ("generalise PatientAge to 5-year bands", 1),
        ("generalise PatientAge to 10-year bands", 3),
    ]
    assert risk.advice() == [
        "generalise PatientAge to 10-year bands: k 1 -> 3, below-k 100.0 % -> 0.0 %, "
        "sample uniques 6 -> 0"
    ]
    report = risk.to_dict()
    assert report["contributions"][1]["uniques_gone_if_removed"] == 6  # age
    assert report["contributions"][0]["uniques_gone_if_removed"] == 0  # sex
    assert report["contributions"][1]["uniques_gone_if_generalised"] == 6
    assert (sex.removed.k, studies.removed.k) == (1, 1)
    assert report["population"]["note"].startswith("no population size given")
    # Where no generalisation helps (men of 50 and 95 stay apart in any band)
    # and removal does, removal is advised.
    rows = [
        (f"q{i}", {"PatientSex": (sex,), "PatientAge": (age,), "_study": f"t{i}"})
        for i, (sex, age) in enumerate([("F", "10"), ("M", "50"), ("M", "95")])
    ]
    age = assess(rows, settings).attributes[1]
    assert [o.effect.uniques for o in age.tried] == [3, 3, 3]
    assert age.advice.change.phrase == "remove PatientAge" and age.advice.effect.uniques == 1
    assert report["journalist_risk"]["max"] is None


def test_class_counter_spills_to_disk_and_sums_what_it_spilled(tmp_path):
    """A trial's classes beyond its budget go to disk; the same class met
    before and after a spill is still one class."""
    counter = ClassCounter(tmp_path, limit=3)
    keys = [f"class-{i % 7}" for i in range(50)]
    for key in keys:
        counter.add(key, 2)
    assert sorted(counter.sizes()) == sorted(2 * keys.count(f"class-{i}") for i in range(7))
    assert list(tmp_path.iterdir()), "spilled"
    counter.close()
    assert not list(tmp_path.iterdir())
