"""k-anonymity and ARX attacker-model risks on a table small enough to do by hand."""

from __future__ import annotations

import pytest

from deid.risk.kanon import patient_records, summarise

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
