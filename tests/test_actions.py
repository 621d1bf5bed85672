from __future__ import annotations

import re
from datetime import date

import pytest

from deid import actions
from deid.risk.identifiers import Identifier, IdentifierSet, date_forms


def test_dates_shift_and_reduce():
    assert actions.shift_da("20230314", -10) == "20230304"
    assert actions.shift_da("garbage", -10) == "19000101"  # never kept
    assert actions.shift_dt("20230314102130.5+0100", -14) == "20230228102130.5+0100"
    assert actions.year_da("20230314") == "20230101"
    assert actions.year_dt("20230314102130") == "2023"


def test_a_date_shifted_before_year_1000_is_still_eight_digits():
    """strftime wrote year 990 as three digits: "9901118", invalid DA (and DT)."""
    assert actions.shift_da("10000201", -3362) == "09901118"
    assert actions.shift_dt("10000201101500", -3362) == "09901118101500"


@pytest.mark.parametrize(
    ("written", "shifted"),
    [
        ("2023", "2016"),
        ("202303", "201604"),
        ("2023+0100", "2016+0100"),
        ("202312", "201701"),
        ("2023-03", "19000101000000.000000"),  # no DT: the dummy, never kept
        ("202313", "19000101000000.000000"),
    ],
)
def test_a_year_or_month_date_time_is_shifted_at_its_precision(written, shifted):
    """A DT of year or year-month precision kept its real year beside the
    shifted dates (StudyDate 20230314 -> 20160417, DATETIME 2023 kept): the
    patient's offset to within a year, and from it the birth year."""
    assert actions.shift_dt(written, -2522) == shifted


@pytest.mark.parametrize("written", ["2024-03-15", "2024.03.15", "20240315"])
def test_separated_dates_shift_alike(written):
    """A StudyDate written 2024-03-15 became the dummy while its SeriesDate,
    written 2024.03.15, was shifted: the study no longer matched its series."""
    assert actions.shift_da(written, 10) == "20240325"
    assert "20240315" in date_forms(written)


@pytest.mark.parametrize("written", ["2024-03.15", "2024/03/15", "24-03-15", "2024-3-15"])
def test_other_date_shapes_are_not_guessed(written):
    assert actions.shift_da(written, 10) == "19000101"


def test_birth_year_removed_when_it_implies_over_89():
    assert actions.birth_year("19650412", date(2023, 3, 14)) == "19650101"
    assert actions.birth_year("19300102", date(2023, 3, 14)) == ""


def test_ages():
    assert actions.age_cap_90("093Y") == "090Y"
    assert actions.age_cap_90("089Y") == "089Y"
    assert actions.age_band_5("057Y") == "055Y"
    assert actions.age_band_5("003M") == "000Y"
    # An age in months, weeks or days is its whole years (999M was banded as 0).
    assert actions.age_band_5("999M") == "080Y" and actions.age_band_5("360M") == "030Y"
    assert actions.age_band_5("999W") == "015Y" and actions.age_band_5("500D") == "000Y"
    assert actions.age_band_5("730D") == "000Y" and actions.age_band_5("731D") == "000Y"
    assert actions.age_band_5("261W") == "005Y"
    assert actions.age_band_5("095Y") == "090Y"
    assert actions.age_band_5("junk") == ""


def test_zip3_follows_safe_harbor():
    assert actions.zip3("12 Elm St, Springfield, IL 62704") == "627"
    assert actions.zip3("PO Box 1, Somewhere, VT 05901-1234") == "000"  # 059 is restricted
    assert actions.zip3("no zip here") == ""
    assert actions.zip3(" 02134 ") == "021"  # a ZIP alone
    # The ZIP ends the address; a house number first is no ZIP (it would
    # keep three digits of the street address).
    assert actions.zip3("45678 Ranch Rd^^Jackson^WY^83001") == "000"  # 830 is restricted
    assert actions.zip3("10001 Ocean Blvd, Hampton NH 03842") == "038"
    assert actions.zip3("45678 Ranch Rd, Jackson WY") == ""


def test_round():
    assert actions.round_to("81.5", 5) == "80"
    assert actions.round_to("1.78", 0.05) == "1.8"


def _terms(*items: Identifier):
    found = IdentifierSet()
    for item in items:
        found.add(item.kind, item.value, item.where or "PatientName")
    return found.terms()


def test_clean_text_keeps_clinical_words_and_drops_identifiers():
    terms = _terms(Identifier("name", "QUIXOTE^ALONSO", ""), Identifier("id", "MRN4821337", ""))
    text = "CT HEAD Alonso Quixote 2023-03-14 MRN4821337 call (217) 555-0147 a@b.org"
    assert actions.clean_text(text, terms) == "CT HEAD call"


def test_date_forms_cover_common_writing():
    forms = date_forms("19650412")
    for written in ("1965-04-12", "04/12/1965", "12.04.1965", "April 12, 1965", "12 apr 1965"):
        assert any(re.fullmatch(re.escape(f), written, re.I) for f in forms), written
    birth = date_forms("19650412", short_years=True)
    for written in ("12/04/65", "04/12/65", "12.04.65", "12-04-65"):
        assert any(re.fullmatch(re.escape(f), written, re.I) for f in birth), written
        assert not any(re.fullmatch(re.escape(f), written, re.I) for f in forms), written


@pytest.mark.parametrize("written", ["DOB 29 09 47", "born 29.09.47", "geb. 29/9/47", "09-29-47"])
def test_a_birth_date_with_a_two_digit_year_is_cleaned(written):
    # Two-digit years were no form of the day: "29 09 47" was kept, in a
    # description as in burned-in text, even as the patient's own birth date.
    birth = Identifier("date", "19470929", "PatientBirthDate")
    cleaned = actions.clean_text(f"CT HEAD {written} follow-up", _terms(birth))
    assert "47" not in cleaned and "29" not in cleaned, cleaned
    assert cleaned.startswith("CT HEAD") and cleaned.endswith("follow-up")
    other = actions.clean_text("CT HEAD 29 09 48 follow-up", _terms(birth))
    assert other == "CT HEAD 29 09 48 follow-up"  # another day: kept


@pytest.mark.parametrize("kept", ["3.4.5", "Scanner 3 4 5", "VE 4.3.5"])
def test_three_small_numbers_are_no_short_year_form_of_other_dates(kept):
    # A review: with two-digit years for every date, a software version
    # "3.4.5" was cleaned out of a study of 2005-04-03. Only the birth date
    # has those forms.
    study = Identifier("date", "20050403", "StudyDate")
    assert actions.clean_text(kept, _terms(study)) == kept
    born = Identifier("date", "20050403", "PatientBirthDate")
    assert actions.clean_text(kept, _terms(born)) != kept


def test_names_in_every_pn_group_are_identifiers():
    name = Identifier("name", "Yamada^Tarou=山田^太郎=やまだ^たろう", "PatientName")
    text = "検査 山田 太郎 様"
    assert name.found_in(text)
    assert actions.clean_text(text, _terms(name)) == "検査 様"
    assert actions.clean_text("検査山田太郎様", _terms(name)) == "検査 様"
    assert Identifier("name", "ANONYMOUS^Test", "").phrases() == ()


def test_a_zip3_scan_accepts_only_what_a_run_writes():
    # A restricted area's three digits are never written (they become 000):
    # found in a scan, they are an address left.
    from deid.risk.detectors import _zip3_written

    assert _zip3_written("zip3", "627") and _zip3_written("zip3", "000")
    assert not _zip3_written("zip3", "036")  # restricted: a run writes 000
    assert not _zip3_written("remove", "627") and not _zip3_written("zip3", "62704")


def test_the_data_set_risk_zip_is_the_one_zip3_keeps():
    from pydicom.dataset import Dataset

    from deid.scan import _zip

    ds = Dataset()
    ds.PatientAddress = "10001 Main St, Springfield IL 62704"
    assert _zip(ds) == ("62704",) and actions.zip3(ds.PatientAddress) == "627"


def test_a_dummy_keeps_as_many_values_as_the_element_had_where_its_vm_allows():
    """TimeOfLastCalibration ['0800', '090000'] became one dummy while its
    DateOfLastCalibration kept two values: the pairs no longer matched."""
    from pydicom.dataelem import DataElement

    from deid.apply import dummy_value

    assert dummy_value(DataElement(0x00181201, "TM", ["0800", "090000"])) == ["000000.00"] * 2
    assert dummy_value(DataElement(0x00181201, "TM", "0800")) == "000000.00"
    assert dummy_value(DataElement(0x00280030, "DS", [1, 2, 3])) == ["0", "0"]  # VM 2: two
    assert dummy_value(DataElement(0x00200032, "DS", [1])) == ["0", "0", "0"]  # VM 3: three
