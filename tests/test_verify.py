"""Verification of the written bytes: its cheap pass over the raw bytes may
rule a file clean only where the element-by-element check finds nothing.

The raw pass is what keeps verification cheap (a file it cannot rule clean is
parsed again); a raw pass that says clean where a value is left is a leak the
verifier exists to stop.
"""

from __future__ import annotations

import io

import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    generate_uid,
)

from deid.risk import verify as verify_module
from deid.risk.identifiers import IdentifierSet
from deid.risk.verify import verify

IDENTIFIERS = [
    ("name", "GARCIA LOPEZ^MARIA", "PatientName"),
    ("name", "WEISS^HANS", "ReferringPhysicianName"),
    ("name", "NOWAK^LUKASZ", "OperatorsName"),
    ("name", "YILMAZ^AYSE", "PerformingPhysicianName"),
    ("id", "WHOLE BODY_E", "ImageID"),
    ("id", "QX-5521", "PatientID"),
    ("id", "00731", "AccessionNumber"),
    ("date", "19650412", "PatientBirthDate"),
]
# Pieces a kept text is made of: the identifiers' words, words that begin or
# continue them, separators, digits, and letters of other scripts.
PIECES = [
    "garcia",
    "Lopez",
    "MARIA",
    "weiss",
    "Weiß",
    "hans",
    "whole",
    "body",
    "e",
    "emission",
    "qx",
    "5521",
    "55210",
    "731",
    "00731",
    "1965",
    "04",
    "4",
    "12",
    "april",
    " ",
    "^",
    "-",
    "_",
    ".",
    "\\",
    "/",
    "",
    "0",
    "7",
    "x",
    "é",
    "ß",
    "王",
    "Ö",
    "·",
    "ª",
]
# Where the text is kept, each followed by a tag whose first byte is a
# letter or a digit: (0054,0400) after (0040,0254), (0032,1060) after
# (0020,4000).
# The values pass (each value read apart) also walks items and private
# blocks: the text there too.
PLACES = [
    "PerformedProcedureStepDescription",
    "ImageComments",
    "StudyDescription",
    "item:ImageComments",
    "undefined-item:StudyDescription",
    "private",
    "ReferringPhysicianName",
]
CHARSETS = ["ISO_IR 100", "ISO_IR 101", "ISO_IR 148", "ISO_IR 192", "GB18030", None]
SYNTAXES = [
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    ExplicitVRBigEndian,
    DeflatedExplicitVRLittleEndian,
]


def identifiers() -> IdentifierSet:
    found = IdentifierSet()
    for kind, value, where in IDENTIFIERS:
        found.add(kind, value, where)
    return found


def _saved(ds: Dataset, syntax: str = ExplicitVRLittleEndian) -> bytes:
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = syntax
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def output(text: str, place: str, charset: str | None, syntax: str) -> bytes:
    ds = Dataset()
    if charset:
        ds.SpecificCharacterSet = charset
    ds.ImageType = ["DERIVED", "PRIMARY", "WHOLE BODY", "EMISSION"]
    ds.StudyDescription = "x"
    ds.ImageComments = "x"
    ds.RequestedProcedureDescription = "x"  # (0032,1060)
    ds.PerformedProcedureStepDescription = "x"
    ds.ImageID = "x"  # (0054,0400)
    _place(ds, place, text)
    return _saved(ds, syntax)


def _place(ds: Dataset, place: str, text: str) -> None:
    if place == "private":
        ds.private_block(0x0029, "ACME 1.0", create=True).add_new(0x10, "LO", text)
    elif ":" in place:
        kind, keyword = place.split(":")
        item = Dataset()
        setattr(item, keyword, text)
        item.is_undefined_length_sequence_item = kind == "undefined-item"
        ds.ReferencedImageSequence = [item]
        ds["ReferencedImageSequence"].is_undefined_length = kind == "undefined-item"
    else:
        setattr(ds, place, text)


def parse_always(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the element-by-element check on the parsed output decides."""
    past_raw_pass(monkeypatch)
    monkeypatch.setattr(verify_module, "_values_clear", lambda *args: False)


def past_raw_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """The raw pass clears nothing: the values pass decides first."""
    monkeypatch.setattr(verify_module, "_may_leak", lambda raw, terms: True)


def _each_pass(data: bytes, found: IdentifierSet, charset: object) -> tuple[list, list, list]:
    """verify() as it runs, from the values pass on, and the parse alone."""
    quick = verify(data, found, "f", character_set=charset)
    with pytest.MonkeyPatch.context() as mp:
        past_raw_pass(mp)
        values = verify(data, found, "f", character_set=charset)
        parse_always(mp)
        full = verify(data, found, "f", character_set=charset)
    return quick, values, full


# A text a character set cannot hold is written with replacement characters
# (pydicom warns): those bytes are searched like any other.
@pytest.mark.filterwarnings("ignore:Failed to encode value")
@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(PIECES), min_size=1, max_size=8),
    st.sampled_from(PLACES),
    st.sampled_from(CHARSETS),
    st.sampled_from(SYNTAXES),
)
def test_no_pass_clears_a_value_the_full_check_finds(pieces, place, charset, syntax):
    text = "".join(pieces)
    try:
        data = output(text, place, charset, syntax)
    except (UnicodeEncodeError, LookupError):
        return  # a text this character set cannot hold
    quick, values, full = _each_pass(data, identifiers(), charset)
    assert bool(quick) == bool(full), (text, full)
    assert bool(values) == bool(full), (text, full)


def test_an_escape_byte_in_binary_values_costs_no_second_pass(monkeypatch):
    # A palette's or an overlay's bytes nearly always hold an escape byte
    # (pydicom-data's eCT_Supplemental.dcm): every such output was walked
    # value by value, or parsed. Binary values are never decoded as text.
    data = _with(
        StudyDescription="Bone scan",
        RedPaletteColorLookupTableData=b"\x1b$B" * 8 + b"\x00\x00",
        x60003000=("OW", b"\x1b" * 64),  # OverlayData
    )

    def no_second_pass(*args, **kwargs):
        raise AssertionError("the raw pass did not clear the output")

    monkeypatch.setattr(verify_module, "_values_clear", no_second_pass)
    monkeypatch.setattr(pydicom, "dcmread", no_second_pass)
    assert verify(data, identifiers(), "f") == []


def test_a_placeholder_serial_number_costs_no_second_parse(monkeypatch):
    # A DeviceSerialNumber "00000" (pydicom-data's MR2 files) matched every
    # time written "000000.00", and each such output was parsed again.
    found = IdentifierSet()
    found.add("id", "00000", "DeviceSerialNumber")
    found.add("name", "GARCIA LOPEZ^MARIA", "PatientName")
    data = output("Bone scan", "StudyDescription", None, ExplicitVRLittleEndian)
    data = data.replace(b"Bone scan ", b"000000.00 ")

    def no_parse(*args, **kwargs):
        raise AssertionError("the output was parsed again")

    monkeypatch.setattr(pydicom, "dcmread", no_parse)
    assert verify(data, found, "f") == []


@pytest.mark.parametrize(
    "text", ["whole body e", "WHOLE BODY_E7", "ref. qx 5521", "Dr Weiß", "Garcia-Lopez, Maria"]
)
def test_an_identifier_left_in_kept_text_is_found(text):
    data = output(text, "StudyDescription", "ISO_IR 192", ExplicitVRLittleEndian)
    findings = verify(data, identifiers(), "f")
    assert [f.location for f in findings] == ["StudyDescription"], findings


@pytest.mark.parametrize(
    ("text", "place"),
    [("whole body e", "PerformedProcedureStepDescription"), ("1965-04-12", "ImageComments")],
)
def test_an_identifier_that_ends_a_value_is_found_beside_the_next_tag(text, place):
    # An even-length value has no padding: the next tag's first byte follows
    # its last word in the raw bytes ("e" + "T" of (0054,0400), "12" + "2" of
    # (0032,1060)), and the raw pass must not take that for more of the word.
    data = output(text, place, None, ExplicitVRLittleEndian)
    assert text.encode() + (b"T" if place != "ImageComments" else b"2") in data
    findings = verify(data, identifiers(), "f")
    assert [f.location for f in findings] == [place], findings


@pytest.mark.parametrize(
    ("text", "charset"),
    [
        ("Łukasz", "ISO_IR 101"),
        ("Yılmaz", "ISO_IR 148"),
        ("Weiß", "GB18030"),
        ("Weiß", "ISO_IR 192"),
    ],
)
def test_a_name_written_in_the_files_own_character_set_is_found(text, charset):
    # Read as Latin-1, "Łukasz" in Latin-2 is "£ukasz" and Turkish "ı" is "ý":
    # the raw pass reads the bytes in the file's character set too.
    data = output(f"seen by {text}", "StudyDescription", charset, ExplicitVRLittleEndian)
    findings = verify(data, identifiers(), "f", character_set=charset)
    assert [f.location for f in findings] == ["StudyDescription"], findings


def test_a_deflated_output_is_searched_inflated():
    # Compressed bytes hide every value from a search of the raw bytes: a
    # deflated output with the patient ID in a description was passed clean.
    ds = pydicom.dcmread(get_testdata_file("image_dfl.dcm"))
    ds.StudyDescription = "scan of QX-5521"
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    assert ds.file_meta.TransferSyntaxUID == DeflatedExplicitVRLittleEndian
    # The raw pass itself sees the value (a parse for another reason, such
    # as an escape byte in the compressed stream, would hide a blind pass).
    searched = verify_module._data_set(buffer.getvalue())
    assert b"scan of QX-5521" in searched.data
    findings = verify(buffer.getvalue(), identifiers(), "f", ds.PixelData)
    assert [f.location for f in findings] == ["StudyDescription"]


def test_a_placeholder_id_is_no_identifier():
    found = IdentifierSet()
    found.add("id", "00000", "DeviceSerialNumber")
    found.add("id", "0000000", "OtherPatientIDs")
    assert not found.terms()
    found.add("id", "00731", "AccessionNumber")
    assert found.terms()


def _with(syntax: str = ExplicitVRLittleEndian, charset: str | None = None, **values) -> bytes:
    ds = Dataset()
    if charset:
        ds.SpecificCharacterSet = charset
    for key, value in values.items():
        if key.startswith("x"):  # x7FDF0010=("LO", "ACUSON"): a private element
            ds.add_new(int(key[1:], 16), *value)
        else:
            setattr(ds, key, value)
    return _saved(ds, syntax)


def _latin5_item_end() -> bytes:
    item = Dataset()
    item.is_undefined_length_sequence_item = True
    item.InstitutionalDepartmentName = "Ankara Şehir Hastanesİ"
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 148"
    ds.ReferencedPerformedProcedureStepSequence = [item]
    ds["ReferencedPerformedProcedureStepSequence"].is_undefined_length = True
    return _saved(ds)


LONG_DATE = "1965-04-12 " + "z" * (0x3132 - 11)  # its length's two bytes read "21"
# Bytes glued to a value in the raw output (found by a review's fuzzing; each
# passed clean through the raw pass while the element check stopped it).
GLUED = {
    "ß of group 7FDF after": lambda: _with(ImageID="whole body e", x7FDF0010=("LO", "ACUSON")),
    "üÿ of (FFFC,FFFC) after": lambda: _with(ImageID="whole body e", xFFFCFFFC=("OB", b"\0\0")),
    "letters of group 7053 after": lambda: _with(
        ImageID="whole body e", x70530010=("LO", "Philips PET Private Group")
    ),
    "digits of group 3033 after": lambda: _with(
        ImageComments="born: 1965-04-12", x30330010=("LO", "CEMAX-ICON")
    ),
    "digits of a length before (LE)": lambda: _with(StudyComments=LONG_DATE),
    "digits of a length before (BE)": lambda: _with(ExplicitVRBigEndian, TextValue=LONG_DATE),
    "şÿ of an item delimiter after (Latin-5)": _latin5_item_end,
    "Arabic-Indic digits": lambda: _with(charset="ISO_IR 192", StudyDescription="born 1965-٠٤-١٢"),
    "Thai digits": lambda: _with(charset="ISO_IR 166", StudyDescription="born 1965-๐๔-๑๒"),
    "an escape sequence inside a word": lambda: _with(StudyDescription=b"GAR\x1b(BCIA"),
    "an escape byte in a lookup table beside the value": lambda: _with(
        ImageID="whole body e", RedPaletteColorLookupTableData=b"\x1b(B" * 8 + b"\x00"
    ),
    "a control byte between title and name": lambda: _with(StudyComments="Dr\x0bLind"),
    "a digit of group 0038 after a name": lambda: _with(
        ImplicitVRLittleEndian, StudyComments="Anna Lind", CurrentPatientLocation="Ward 3"
    ),
    "a length byte before a title (BE)": lambda: _with(
        ExplicitVRBigEndian, StudyComments="Dr Lind " + "0" * 58
    ),
}


@pytest.mark.filterwarnings("ignore:The value length")  # the over-long LT is the point
@pytest.mark.parametrize("layout", list(GLUED))
def test_a_value_glued_to_its_neighbours_is_still_found(layout):
    data = GLUED[layout]()
    found = identifiers()
    found.add("institution", "ANKARA SEHIR HASTANESI", "InstitutionName")
    charset = pydicom.dcmread(io.BytesIO(data)).get("SpecificCharacterSet")
    quick, values, full = _each_pass(data, found, charset)
    assert full, "the layout must carry a value the element check stops"
    assert quick
    assert values


def test_initials_alone_are_no_finding_in_a_code_but_a_word_of_the_name_is():
    # "Doe^M R" read as "MR" withheld every MR image of such a patient; a
    # surname alone in a code ("KOWALSKA" in ScanOptions) is still the name.
    # pydicom's test-SR.dcm ("Test^S R", a placeholder and initials) was
    # withheld for "SR" in its Modality.
    found = IdentifierSet()
    found.add("name", "Doe^M R", "PatientName")
    found.add("name", "Test^S R", "ReferringPhysicianName")
    found.add("name", "S R", "PerformingPhysicianName")
    found.add("name", "Kowalska^Anna", "OperatorsName")
    ds = Dataset()
    ds.Modality = "MR"
    ds.StudyDescription = "MR BRAIN W/O; SR follow-up"
    with pytest.MonkeyPatch.context() as mp:
        parse_always(mp)
        assert verify(_saved(ds), found, "f") == []
        # A name that is initials only is still searched for, spaced (a
        # review: "J K" in a description was kept after the change above).
        found.add("name", "J K", "OtherPatientNames")
        ds.SeriesDescription = "HEAD J K FOLLOW-UP"
        assert [f.location for f in verify(_saved(ds), found, "f")] == ["SeriesDescription"]
        del ds.SeriesDescription
        ds.ScanOptions = "KOWALSKA"
        assert [f.location for f in verify(_saved(ds), found, "f")] == ["ScanOptions"]


@pytest.mark.parametrize("name", ["王小明", "ZHANG^SAN=张三", "YAMADA^TARO=山田^太郎"])
def test_names_in_unspaced_scripts_are_still_searched(name):
    # Written one character a token, they read as initials to a rule meant
    # for "M R", and a Chinese name without a caret was searched for nowhere.
    found = IdentifierSet()
    found.add("name", name, "PatientName")
    ideographs = "".join(c for c in name.split("=")[-1] if not c.isascii())
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ImageComments = f"{ideographs} 头部"
    with pytest.MonkeyPatch.context() as mp:
        parse_always(mp)
        assert [f.location for f in verify(_saved(ds), found, "f")] == ["ImageComments"]


# Private attributes pydicom's dictionary types as a number or a date.
TYPED = [
    ("SIEMENS MR HEADER", 0x0C, "IS"),
    ("SIEMENS MR HEADER", 0x0B, "DS"),
    ("GEMS_DL_SERIES", 0x85, "DA"),
]


def _typed_private(creator: str, element: int, vr: str, text: str, syntax: str) -> bytes:
    """Text written where the dictionary (and, in explicit VR, the file) says
    a number or a date is: pydicom will not write that, so it is written as
    LO and, in explicit VR, labelled as the VR it is due in."""
    ds = Dataset()
    ds.private_block(0x0019, creator, create=True).add_new(element, "LO", text)
    data = _saved(ds, syntax)
    if syntax == ExplicitVRLittleEndian:
        header = bytes([0x19, 0, element, 0x10]) + b"LO"
        assert data.count(header) == 1
        data = data.replace(header, header[:4] + vr.encode())
    return data


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
@pytest.mark.parametrize(("creator", "element", "vr"), TYPED)
def test_text_where_a_number_or_date_is_due_is_searched(syntax, creator, element, vr):
    """A private value typed IS, DS or DA (by the file, or only by pydicom's
    dictionary in implicit VR) that holds a name or an ID is text: no pass
    may clear it because of its VR."""
    for text in ("QX-5521", "WEISS"):
        data = _typed_private(creator, element, vr, text, syntax)
        for findings in _each_pass(data, identifiers(), None):
            assert len(findings) == 1, (text, findings)
    number = "20240412" if vr == "DA" else "5521"
    data = _typed_private(creator, element, vr, number, syntax)
    assert all(f == [] for f in _each_pass(data, identifiers(), None))


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
@pytest.mark.parametrize(
    ("keyword", "value", "found"),
    [
        ("AcquisitionNumber", "19650412", True),  # the birth date typed into a number
        ("StudyID", "x", False),
        ("ImagesInAcquisition", "731", False),  # a short number: no ID by chance
        ("SliceLocation", "00731.5", False),
        ("RedPaletteColorLookupTableData", b"GARCIA LOPEZ^MARIA\x00\x00", True),
        ("RedPaletteColorLookupTableData", b"\x00WEI\x01\x00\x00", False),  # 3 letters: chance
        ("LargestImagePixelValue", 65535, False),
    ],
)
def test_identifiers_typed_into_numbers_or_binary_values_are_found(syntax, keyword, value, found):
    """Kept numbers and binary values are read too: a long number that is the
    patient's ID or birth date, a name spelled in a lookup table's bytes."""
    ds = Dataset()
    setattr(ds, keyword, value)
    data = _saved(ds, syntax)
    for findings in _each_pass(data, identifiers(), None):
        assert bool(findings) == found, (keyword, findings)


def test_a_numeric_patient_id_in_a_number_is_found():
    found = IdentifierSet()
    found.add("id", "40981723", "PatientID")
    ds = Dataset()
    ds.AcquisitionNumber = "40981723"
    ds.InstanceNumber = "409817"  # another number: no finding
    data = _saved(ds)
    for findings in _each_pass(data, found, None):
        assert [f.location for f in findings] == ["AcquisitionNumber"]


def _coded_output(place: str, value: object) -> bytes:
    ds = Dataset()
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    if place == "private":
        ds.private_block(0x0029, "ACME 1.0", create=True).add_new(0x10, "CS", value)
    elif place == "unknown":
        ds.add_new(0x0018FFF0, "CS", value)  # an even group, no attribute of the standard
    elif place == "text-as-code":
        ds.add_new(0x00081030, "CS", value)  # StudyDescription (LO) written as CS
    elif place == "item":
        item = Dataset()
        item.AcquisitionType = value
        ds.CTAcquisitionTypeSequence = [item]
    else:
        setattr(ds, place, value)
    return _saved(ds)


def _named(*names: str) -> IdentifierSet:
    found = IdentifierSet()
    for name in names:
        found.add("name", name, "PatientName")
    return found


@pytest.mark.parametrize(
    "name, place, value",
    [
        ("Head^Thomas", "BodyPartExamined", "HEAD"),
        ("Head^Thomas", "ImageType", ["DERIVED ", "HEAD"]),
        ("Perfusion^MCA Stroke", "ImageType", ["DERIVED", "PRIMARY", "PERFUSION", "RCBF"]),
        ("Axial^Anna", "item", "AXIAL"),
    ],
)
def test_a_code_that_is_a_word_of_the_name_is_kept(name, place, value):
    # Mr Head's head CT: BodyPartExamined HEAD names the body part, and
    # withholding for it lost every such file (pydicom-data's perfusion
    # phantom "Perfusion^MCA Stroke" and its ImageType PERFUSION too).
    assert _each_pass(_coded_output(place, value), _named(name), None) == ([], [], [])


@pytest.mark.parametrize(
    "name, place, value",
    [
        ("Head^Thomas", "BodyPartExamined", "THOMAS"),
        ("Head^Thomas", "BodyPartExamined", "HEAD THOMAS"),
        ("Head^Thomas", "BodyPartExamined", "HEAD^THOMAS"),
        ("Head^Thomas", "BodyPartExamined", "HEAD_THOMAS"),
        ("Head^Thomas", "BodyPartExamined", "Head"),
        ("Head^Thomas", "ImageType", ["DERIVED", "PRIMARY", "HEADX", "HEAD THOMAS"]),
        ("Head^Thomas", "private", "HEAD"),
        ("Head^Thomas", "unknown", "HEAD"),
        ("Head^Thomas", "text-as-code", "HEAD"),
        ("Head^Thomas", "StudyDescription", "HEAD"),
        # Words of the standard that are names too (a review: 620 of them,
        # 19 of the 50 commonest US surnames), at the top and in an item.
        ("Williams^John", "ScanOptions", "WILLIAMS"),
        ("Brown^Frank", "ImageType", ["ORIGINAL", "BROWN", "AXIAL", "FRANK"]),
        ("Taylor^Ann", "item", "TAYLOR"),
        ("Hand^Mary", "BodyPartExamined", "HAND"),
        # A word the standard uses once or twice (a breed's name) and the
        # name lists lack may still be a surname.
        ("Baldinger^Eva", "ScanOptions", "BALDINGER"),
    ],
)
def test_a_name_in_a_code_string_is_still_a_leak(name, place, value):
    # Only a whole code that is a technical word of the standard and no
    # known name is the vocabulary's: a given name as a code, the name
    # written whole, in a private or unknown code string, or in text is
    # withheld.
    quick, values, full = _each_pass(_coded_output(place, value), _named(name), None)
    assert quick and values and full
    assert full[0].evidence == name


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ("1.2.3.GARCIA", True),  # no UID: its letters spell the name
        ("1.2.840.19650412.1", False),  # a UID's digits: a date there is chance
        ("1.2.840.10008.5.1.4.1.1.2", False),
    ],
)
@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_a_name_spelled_in_a_uid_value_is_found(value, found):
    """A UID of digits and dots cannot spell a name, so names and dates are
    not looked for there; a value written in a UI attribute that is no UID
    can, and is read as text."""
    ds = Dataset()
    ds.FrameOfReferenceUID = value
    data = _saved(ds)
    for findings in _each_pass(data, identifiers(), None):
        assert bool(findings) == found, (value, findings)


@pytest.mark.parametrize(("header_form", "kept_form"), [("NFC", "NFD"), ("NFD", "NFC")])
def test_a_name_kept_in_the_other_unicode_normal_form_is_found(header_form, kept_form):
    """A surname with its accent written apart (NFD) in a kept description,
    the header's name composed, or the other way round: every pass finds it."""
    import unicodedata

    found = IdentifierSet()
    found.add("name", unicodedata.normalize(header_form, "Götzenbächer^Björn"), "PatientName")
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.StudyDescription = unicodedata.normalize(kept_form, "Kopf Götzenbächer")
    data = _saved(ds)
    for findings in _each_pass(data, found, "ISO_IR 192"):
        assert [f.location for f in findings] == ["StudyDescription"]


def test_deids_own_markers_are_not_searched_for_the_patient():
    """deid writes DeidentificationMethod and its code sequence whole. A
    patient named Bašić ("basic") or with ID 2024 had the profile's name,
    the table's year and CID 7050's meaning cut out of them as leaks; the
    same words anywhere else still are."""
    found = IdentifierSet()
    found.add("name", "BAŠIĆ^MARKO", "PatientName")
    found.add("id", "2024", "PatientID")
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.DeidentificationMethod = ["deid 0.1.0: basic", "based on DICOM PS3.15 2024b Table E.1-1"]
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator = "113100", "DCM"
    code.CodeMeaning = "Basic Application Confidentiality Profile"
    ds.DeidentificationMethodCodeSequence = [code]
    for findings in _each_pass(_saved(ds), found, "ISO_IR 192"):
        assert findings == []
    ds.StudyDescription = "basic follow-up"
    for findings in _each_pass(_saved(ds), found, "ISO_IR 192"):
        assert [f.location for f in findings] == ["StudyDescription"]
