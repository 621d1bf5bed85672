"""Deciding, table by table: the profile's rule, the IOD's type at the place,
the VR rule for attributes no rule names; and each action of the table."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date

import pytest
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.tag import Tag
from pydicom.uid import ComprehensiveSRStorage, CTImageStorage, SegmentationStorage

from deid import apply
from deid.apply import REMOVE, UNCHANGED, FileContext
from deid.decide import Decider, conform
from deid.errors import ProfileError
from deid.profiles import Decision, load_profile
from deid.pseudonyms import Pseudonymizer
from deid.risk.identifiers import IdentifierSet
from deid.settings import resolve_profile
from deid.standard import for_sop_class

T = tag_for_keyword
CT = for_sop_class(CTImageStorage)
SR = for_sop_class(ComprehensiveSRStorage)
SEG = for_sop_class(SegmentationStorage)


def rule(code: str, action: str = "") -> Decision:
    from deid.profiles import canonical_action

    return Decision(action or canonical_action(code), code, "test rule")


@pytest.mark.parametrize(
    ("code", "kind", "vr", "action", "need"),
    [
        ("X/Z", "2", "DA", "empty", "present"),  # Type 2: Z
        ("X/Z", "3", "DA", "remove", ""),  # Type 3: X
        ("X/D", "1", "LO", "dummy", "value"),  # Type 1: D
        ("X/Z/D", "1C", "TM", "dummy", "value"),
        ("X/Z/D", "3", "TM", "remove", ""),
        ("Z/D", "2", "SH", "empty", "present"),
        ("X/D", "1", "UI", "dummy", "value"),
        ("X/Z/U*", "3", "SQ", "uid", ""),  # references kept, UIDs mapped
        ("X", "1", "LO", "dummy", "value"),  # a required attribute is never removed
        ("X", "2", "PN", "empty", "present"),
        ("X", "3", "PN", "remove", ""),
        ("Z", "1", "LO", "dummy", "value"),
        ("Z", "3", "SQ", "remove", ""),  # an empty Type 3 sequence is invalid
        ("Z", "2", "SQ", "empty", "present"),
        ("D", "3", "LO", "dummy", ""),
        ("K", "1", "LO", "keep", "value"),
    ],
)
def test_codes_resolve_by_type_at_the_place(code, kind, vr, action, need):
    decided = conform(rule(code), kind, vr, iod_known=True)
    assert (decided.action, decided.need) == (action, need)
    assert decided.why.startswith("test rule")


def test_unknown_sop_class_keeps_the_safe_default_and_says_so():
    decided = conform(rule("X/Z/D"), None, "DA", iod_known=False)
    assert decided.action == "dummy" and "not in the standard's IOD tables" in decided.why


def test_compound_code_not_in_this_iod_is_removed():
    assert conform(rule("X/Z/D"), None, "DA", iod_known=True).action == "remove"


def test_types_come_from_the_iod_tables_at_their_place():
    assert CT.name == "ct-image"
    assert CT.type_at((), T("PatientName")) == "2"
    assert CT.type_at((), T("AcquisitionDate")) == "3"
    assert CT.type_at((), T("ReferencedStudySequence")) == "3"
    # Deeper in files than in the tables: SR content trees.
    deep = (T("ContentSequence"),) * 4
    assert SR.type_at(deep, T("TextValue")) == "1C"
    assert SEG.type_at((T("SegmentSequence"),), T("SegmentLabel")) == "1"
    assert SEG.type_at((), T("SegmentLabel")) is None  # only inside its sequence
    assert for_sop_class("1.2.3.4.private") is None


@pytest.fixture(scope="module")
def basic() -> Decider:
    return Decider(resolve_profile("basic"))


@pytest.mark.parametrize(
    ("keyword", "vr", "iod", "parents", "action"),
    [
        ("WaveformData", "OW", None, ("WaveformSequence",), "keep"),
        ("SamplingFrequency", "DS", None, ("WaveformSequence",), "keep"),
        ("SegmentNumber", "US", SEG, ("SegmentSequence",), "keep"),
        ("SegmentationType", "CS", SEG, (), "keep"),
        ("StackID", "SH", None, ("PerFrameFunctionalGroupsSequence", "FrameContentSequence"),
         "remove"),  # Type 3 text: removed
        ("SegmentLabel", "LO", SEG, ("SegmentSequence",), "clean"),  # Type 1 text: cleaned
        ("DocumentTitle", "ST", for_sop_class("1.2.840.10008.5.1.4.1.1.104.1"), (), "clean"),
        ("ContentSequence", "SQ", SR, (), "dummy"),  # D: walked, items decided alone
        ("TextValue", "UT", SR, ("ContentSequence",), "dummy"),  # X, but Type 1C
        ("CodingSchemeUID", "UI", None, ("ConceptNameCodeSequence",), "keep"),
        ("SOPInstanceUID", "UI", CT, (), "uid"),
        ("StudyDate", "DA", CT, (), "dummy"),  # Z, but DICOMDIR records need a value
        ("AcquisitionDate", "DA", CT, (), "remove"),
        # Acquisition text the standard does not list: kept by name (PET
        # harmonisation, waveform groups), not removed as optional free text.
        ("ReconstructionMethod", "LO", None, (), "keep"),
        ("AttenuationCorrectionMethod", "LO", None, (), "keep"),
        ("ScatterCorrectionMethod", "LO", None, (), "keep"),
        ("ImagedNucleus", "SH", None, (), "keep"),
        ("MultiplexGroupLabel", "SH", None, ("WaveformSequence",), "keep"),
        # Software's words, never the patient's: kept (they were removed).
        ("DimensionDescriptionLabel", "LO", None, ("DimensionIndexSequence",), "keep"),
        ("CodingSchemeName", "ST", None, ("CodingSchemeIdentificationSequence",), "keep"),
        ("SegmentDescription", "ST", SEG, ("SegmentSequence",), "remove"),  # typed by people
    ],
)
def test_basic_profile_decisions(basic, keyword, vr, iod, parents, action):
    seq = tuple(T(k) for k in parents)
    decided = basic.standard(Tag(T(keyword)), vr, seq, iod)
    assert decided.action == action, decided.why


@pytest.mark.parametrize(
    ("keyword", "parents"),
    [
        ("SegmentDescription", ("SegmentSequence",)),
        ("GraphicLayerDescription", ("GraphicLayerSequence",)),
    ],
)
def test_descriptions_the_table_does_not_list_are_cleaned_under_clean_descriptors(
    keyword, parents
):
    """They were removed even under the option: 'Liver segment' was lost."""
    cleaning = Decider(resolve_profile("basic", ["clean-descriptors"]))
    seq = tuple(T(k) for k in parents)
    assert cleaning.standard(Tag(T(keyword)), "ST", seq, None).action == "clean"


@pytest.mark.parametrize(
    ("parents", "option", "action"),
    [
        (("WaveformAnnotationSequence",), "clean-structured-content", "clean"),
        (("WaveformAnnotationSequence",), "clean-graphics", "dummy"),
        (("GraphicAnnotationSequence", "TextObjectSequence"), "clean-graphics", "clean"),
        (("GraphicAnnotationSequence", "TextObjectSequence"), "clean-structured-content",
         "dummy"),
    ],
)  # fmt: skip
def test_an_ecgs_statements_are_structured_content_not_graphics(parents, option, action):
    """UnformattedTextValue holds a presentation state's annotation text and
    a waveform's interpretation statements ("RITMO SINUSALE"): these became
    ANONYMOUS even under clean-structured-content. Each follows its option."""
    iod = for_sop_class(
        "1.2.840.10008.5.1.4.1.1.9.1.1"
        if parents[0].startswith("Waveform")
        else "1.2.840.10008.5.1.4.1.1.11.1"
    )
    decider = Decider(resolve_profile("basic", [option]))
    seq = tuple(T(k) for k in parents)
    assert decider.standard(Tag(T("UnformattedTextValue")), "UT", seq, iod).action == action


def test_stack_id_is_kept_when_the_iod_requires_it(basic):
    mr = for_sop_class("1.2.840.10008.5.1.4.1.1.4.1")  # Enhanced MR
    seq = (T("PerFrameFunctionalGroupsSequence"), T("FrameContentSequence"))
    assert mr.type_at(seq, T("StackID")) in ("1C", "3")


def test_dates_no_rule_names_follow_the_date_options():
    tag, seq = Tag(T("InstanceCoercionDateTime") + 0x1000), ()  # a tag no profile lists
    modified = Decider(resolve_profile("basic", ["retain-longitudinal-modified-dates"]))
    full = Decider(resolve_profile("basic", ["retain-longitudinal-full-dates"]))
    assert modified._unlisted_date("2", "here").action == "clean"
    assert full._unlisted_date("2", "here").action == "keep"
    assert Decider(resolve_profile("basic"))._unlisted_date("2", "here").action == "empty"
    assert Decider(resolve_profile("basic"))._unlisted_date(None, "").action == "remove"
    assert tag and seq == ()


def test_keep_groups_are_retired(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('[profile]\nname="p"\nextends="basic"\n[keep]\ngroups=["0018"]\n')
    with pytest.raises(ProfileError, match="retired"):
        load_profile(str(path))


# ---------------------------------------------------------------- actions


def ctx() -> FileContext:
    return FileContext(
        patient_key="MRN1",
        patient_pseudonym="PABCDEFGHIJKLMNO",
        date_offset=-10,
        reference_date=date(2023, 3, 14),
        identifiers=IdentifierSet(),
        pseudonymizer=Pseudonymizer(b"0123456789abcdef0123456789abcdef"),
        counts=Counter(),
    )


@pytest.mark.parametrize(
    ("action", "keyword", "vr", "value", "expected"),
    [
        ("keep", "StudyDescription", "LO", "CT HEAD", UNCHANGED),
        ("remove", "StudyDescription", "LO", "CT HEAD", REMOVE),
        ("empty", "StudyDescription", "LO", "CT HEAD", ""),
        ("empty", "PatientWeight", "DS", "70", None),
        ("dummy", "StudyDescription", "LO", "CT HEAD", "ANONYMOUS"),
        ("dummy", "PatientID", "LO", "MRN1", "PABCDEFGHIJKLMNO"),
        ("dummy", "ImagerPixelSpacing", "DS", "0.1\\0.1", ["0", "0"]),  # VM 2
        ("shift-date", "StudyDate", "DA", "20230314", "20230304"),
        ("year", "StudyDate", "DA", "20230314", "20230101"),
        ("birth-year", "PatientBirthDate", "DA", "19650412", "19650101"),
        ("age-90", "PatientAge", "AS", "093Y", "090Y"),
        ("age-band-5", "PatientAge", "AS", "057Y", "055Y"),
        ("zip3", "PatientAddress", "LO", "12 Main St 02139", "021"),
        ("round:5", "PatientWeight", "DS", "72.4", "70"),
        ("clean", "StudyDescription", "LO", "CT HEAD 2023-03-14", "CT HEAD"),
        ("pseudonym", "PatientName", "PN", "DOE^JOHN", "PABCDEFGHIJKLMNO^"),
    ],
)
def test_each_action_of_the_table(action, keyword, vr, value, expected):
    elem = DataElement(T(keyword), vr, value)
    got = apply.apply(elem, Decision(action, "", "test"), ctx())
    if isinstance(got, list):
        got = [str(v) for v in got]
    elif got not in (None, UNCHANGED, REMOVE):
        got = str(got)
    assert got == expected


def test_every_action_describes_itself_and_profiles_can_only_name_these():
    from deid.profiles import EXTRA_ACTIONS

    assert all(a.description for a in apply.TABLE)
    assert EXTRA_ACTIONS | {"round"} == set(apply.ACTIONS)


def test_required_attribute_keeps_a_value_when_cleaning_empties_it():
    elem = DataElement(T("SegmentLabel"), "LO", "2023-03-14")
    decided = Decision("clean", "C", "test", need="value")
    assert apply.apply(elem, decided, ctx()) == "ANONYMOUS"
    present = Decision("remove", "X", "test", need="present")
    assert apply.apply(DataElement(T("StudyID"), "SH", "X1"), present, ctx()) == ""


def test_scan_decides_without_a_key():
    ds = Dataset()
    ds.SOPClassUID = CTImageStorage
    bound = Decider(resolve_profile("basic")).bind(ds)
    assert bound.iod is CT
    assert bound.standard(Tag(T("PatientName")), "PN", ()).action == "empty"


def test_private_sop_class_is_processed_with_safe_defaults_and_said(tmp_path):
    import pydicom
    from pydicom.data import get_testdata_file

    from deid.process import process_file
    from tests.helpers import run_settings

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.113619.4.26"
    source = tmp_path / "private.dcm"
    ds.save_as(source)
    settings = run_settings(
        inputs=[source], output=tmp_path / "out", random_key=True, pixels="off", face="off"
    )
    result = process_file(source, settings)
    assert result.status == "written"
    # An image of a kind deid does not know can carry text: unexamined, it is said.
    assert [f.rule for f in result.findings] == [
        "standard.unknown-sop-class", "pixels.not-examined"
    ]
    reasons = [c["why"] for c in result.changes if c["path"] == "AcquisitionDate"]
    assert reasons and "not in the standard's IOD tables" in reasons[0]


def _object(sop_class: str, syntax: str, name: str, patient_id: str) -> Dataset:
    """An MR object of `sop_class` with its meta, UIDs and patient."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = syntax
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID, ds.Modality = name, patient_id, "MR"
    return ds


def _mr_with_private(folder, name, syntax, element, vr, value):  # noqa: ANN001, ANN202
    """An MR slice with one SIEMENS MR HEADER attribute, written as `vr`
    (in implicit VR only pydicom's dictionary types it)."""
    import numpy as np
    from pydicom.uid import MRImageStorage

    ds = _object(MRImageStorage, syntax, "Kowalski^Jan", "PID778899")
    ds.Rows = ds.Columns = 8
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = np.zeros((8, 8), np.uint16).tobytes()
    ds.private_block(0x0019, "SIEMENS MR HEADER", create=True).add_new(element, vr, value)
    path = folder / name
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.parametrize(
    ("syntax", "element", "vr", "value", "kept"),
    [
        ("implicit", 0x0C, "LO", "KOWALSKI", False),  # B_value: the dictionary says IS
        ("implicit", 0x0C, "LO", "PID778899", False),
        ("implicit", 0x0C, "LO", "1000", True),
        ("implicit", 0x0D, "LO", "DIRECTIONAL", False),  # CS in the dictionary: a code or a name
        ("implicit", 0x0E, "OB", b"KOWALSKI" * 3, False),  # FD x3 in the dictionary
        ("implicit", 0x0E, "FD", [0.0, 0.7071, -0.7071], True),
        ("implicit", 0x0E, "FD", [0.47329, 0.045734, 0.879719], True),  # "D?" in its bytes
        ("implicit", 0x0E, "FD", [6.123233995736766e-17, 0.0, 1.0], True),  # cos 90 computed
        ("implicit", 0x0E, "OB", b"JOHN\0\0\0\0" * 3, False),  # denormal doubles
        ("implicit", 0x0E, "OB", b"19610314" + b"77889912" + b"19610314", False),  # digits
        ("explicit", 0x0C, "UN", b"PID778899 ", False),  # pydicom reads it as IS
        ("explicit", 0x0C, "UN", b"1000", True),
        ("explicit", 0x0C, "IS", "1000", True),
        ("explicit", 0x0E, "FD", [0.0, 0.7071, -0.7071], True),
        ("explicit", 0x0D, "CS", "DIRECTIONAL", True),  # the file says it is a code
    ],
)
def test_safe_private_values_that_can_hold_text_are_not_kept(
    tmp_path, syntax, element, vr, value, kept
):
    """retain-safe-private keeps a listed private value only when it cannot
    be text: in implicit VR (or written as UN) the VR is only pydicom's
    dictionary's, and the bytes are whatever the file held."""
    import pydicom
    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

    from deid.api import deidentify
    from tests.helpers import run_settings

    ts = ImplicitVRLittleEndian if syntax == "implicit" else ExplicitVRLittleEndian
    source = tmp_path / "in"
    source.mkdir()
    _mr_with_private(source, "mr.dcm", ts, element, vr, value)
    out = tmp_path / "out"
    settings = run_settings(
        inputs=[source], output=out, options=["retain-safe-private"], pixels="off",
        face="off", jobs=1, environ={"DEID_KEY": "safe-private-key-0123456789"},
    )  # fmt: skip
    outcome = deidentify([source], settings)
    (written,) = out.rglob("*.dcm")
    ds = pydicom.dcmread(written)
    private = [t for t in ds.keys() if t.is_private and not t.is_private_creator]
    assert bool(private) == kept
    if not kept:  # listed, so not said to be off the list ("not on the safe-private list" was)
        report = json.loads(outcome.report_path.read_text())
        (entry,) = report["files"]
        whys = [c["why"] for c in report["change_sets"][entry["changes"]]]
        assert any("may hold text" in why for why in whys), whys
    data = written.read_bytes()
    assert b"KOWALSKI" not in data.upper() and b"PID778899" not in data


def _run_one(ds: Dataset, tmp_path):  # noqa: ANN001, ANN202 - (output data set, OUT)
    """`ds` through a run alone (no pixel or face step); its output, read."""
    import pydicom

    from deid.api import deidentify
    from tests.helpers import run_settings

    source, out = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    ds.save_as(source / "x.dcm", enforce_file_format=True)
    settings = run_settings(
        inputs=[source], output=out, pixels="off", face="off", jobs=1,
        environ={"DEID_KEY": "class-uid-key-0123456789"},
    )  # fmt: skip
    deidentify([source], settings)
    (written,) = out.rglob("*.dcm")
    return pydicom.dcmread(written), out


def test_a_private_sop_class_is_kept_where_it_names_a_kind_of_object(tmp_path):
    """A vendor's own SOP class (Siemens CSA Non-Image) names what the object
    is, not who: the object's own class is kept, in its meta and wherever it
    appears, while every instance UID is mapped. Another unregistered value
    in a class attribute may be an instance UID a file put there: mapped."""
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid


    csa = "1.3.12.2.1107.5.9.1"
    ds = _object(csa, ExplicitVRLittleEndian, "Doe^Jane", "ID-1")
    ref = Dataset()
    ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = csa, generate_uid()
    swapped = Dataset()  # a vendor bug: an instance UID where the class belongs
    swapped.ReferencedSOPClassUID = "1.2.840.113619.2.55.3.604688119.969.1268071029.320.7"
    swapped.ReferencedSOPInstanceUID = generate_uid()
    ds.ReferencedImageSequence = [ref, swapped]
    result, _ = _run_one(ds, tmp_path)
    assert result.SOPClassUID == result.file_meta.MediaStorageSOPClassUID == csa
    item = result.ReferencedImageSequence[0]
    assert item.ReferencedSOPClassUID == csa
    assert item.ReferencedSOPInstanceUID.startswith("2.25.")
    assert result.SOPInstanceUID.startswith("2.25.")
    assert result.ReferencedImageSequence[1].ReferencedSOPClassUID.startswith("2.25.")


@pytest.mark.parametrize(
    "case", ["birth date in it", "surname in it", "patient ID in it", "the study's UID"]
)
def test_a_private_sop_class_holding_what_identifies_is_mapped(tmp_path, case):
    """The object's own class is kept unmapped, so a value there that holds
    the birth date, the surname or the ID, or that is the study's own UID,
    went to the output (and the study UID into its folder's name) verified
    clean. Such a class is mapped like an instance UID and said so; the
    reports do not quote it."""
    from pydicom.uid import ExplicitVRLittleEndian


    ds = _object("1.2.3", ExplicitVRLittleEndian, "Leakworthy^Lucinda", "48213377")
    ds.PatientBirthDate = "19610223"
    sop_class = {
        "birth date in it": "1.2.826.0.1.3680043.19610223.1",
        "surname in it": "1.2.3.LEAKWORTHY",
        "patient ID in it": "1.2.826.0.1.3680043.48213377",
        "the study's UID": ds.StudyInstanceUID,
    }[case]
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = sop_class
    result, out = _run_one(ds, tmp_path)
    assert result.SOPClassUID == result.file_meta.MediaStorageSOPClassUID
    assert result.SOPClassUID.startswith("2.25.")
    value = sop_class.encode()
    for path in out.rglob("*"):
        assert value not in str(path).encode()
        if path.is_file():
            assert value not in path.read_bytes(), path.name
    report = (out / "report.json").read_text()
    assert "header.sop-class-mapped" in report


@pytest.mark.parametrize(
    ("sop_class", "sequence", "keyword", "value"),
    [
        # A segment tracked by its anatomy (dcmqi, highdicom): the SEG was withheld.
        (SegmentationStorage, "SegmentSequence", "TrackingID", "Liver"),
        (SegmentationStorage, "SegmentSequence", "TrackingID", "lesion-1"),
        ("1.2.840.10008.5.1.4.1.1.77.1.6", "OpticalPathSequence", "OpticalPathIdentifier",
         "DAPI"),
        ("1.2.840.10008.5.1.4.1.1.481.5", "ApplicatorSequence", "ApplicatorID", "A10"),
    ],
)  # fmt: skip
def test_an_id_the_table_does_not_list_is_no_identifier(sop_class, sequence, keyword, value):
    """Table E.1-1 lists what may identify a person. An unlisted attribute
    whose name ends in "ID" names a channel, a segment or a device: its
    value was hunted as a patient ID and cleaned out of itself (ANONYMOUS:
    the channel's frames lost their channel), or found in a code's meaning
    and the whole object withheld. Nothing is cleaned of it now; a listed
    ID (StudyID) still is an identifier."""
    from pydicom.uid import ExplicitVRLittleEndian

    from deid.scrub import collect, plan

    ds = _object(sop_class, ExplicitVRLittleEndian, "Doe^Jane", "PID-77")
    item = Dataset()
    setattr(item, keyword, value)
    ds[T(sequence)] = DataElement(T(sequence), "SQ", [item])
    ds.StudyID = "ST-4711"
    # An unlisted ID the profile removes names something of the patient's
    # (a breed registration number): still hunted through the file.
    breed = Dataset()
    breed.BreedRegistrationNumber = "AKC-RN29481703"
    ds.BreedRegistrationSequence = [breed]
    decider = Decider(resolve_profile("basic"))
    found = {i.value for i in collect(plan(decider, ds).steps).items}
    assert value not in found and {"ST-4711", "AKC-RN29481703"} <= found


@pytest.mark.parametrize(
    ("station", "model", "hunted"),
    [
        ("SKYRA", "Skyra", False),
        ("MR750", "DISCOVERY MR750", False),
        ("SKYRA-ER2", "Skyra", True),  # the site's own words: an identifier
        ("CT01", "", True),
    ],
)
def test_a_station_named_after_its_scanner_leaves_the_model_name(station, model, hunted):
    """StationName is an identifier; one that is the model's own words was
    hunted through the file and emptied the kept ManufacturerModelName (an
    Enhanced MR, which requires it, was withheld)."""
    from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage

    from deid.scrub import collect, plan

    ds = _object(MRImageStorage, ExplicitVRLittleEndian, "Doe^Jane", "PID-77")
    ds.Manufacturer, ds.StationName = "SIEMENS", station
    if model:
        ds.ManufacturerModelName = model
    decider = Decider(resolve_profile("basic"))
    found = {i.value for i in collect(plan(decider, ds).steps).items}
    assert (station in found) == hunted


def test_an_unlisted_id_the_profile_removes_is_still_hunted():
    """Only an unlisted ID the object keeps (its IOD requires it: cleaned)
    names a thing; one the profile removes may be anyone's, and its value
    is still cleaned out of descriptions."""
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

    from deid.scrub import collect, plan

    ds = _object(CTImageStorage, ExplicitVRLittleEndian, "Doe^Jane", "PID-77")
    ds.TrackingID = "CASE-88231"  # no CT attribute: removed
    decider = Decider(resolve_profile("basic"))
    steps = plan(decider, ds).steps
    assert [d.action for _, t, _, d, _ in steps if t == T("TrackingID")] == ["remove"]
    assert "CASE-88231" in {i.value for i in collect(steps).items}
