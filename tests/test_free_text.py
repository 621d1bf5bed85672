"""Free text: identifying words found and removed, technical strings left alone.

Measured on the labelled set of fixtures/free_text.py: cleaning through
`actions.clean_text` (what clean (C) writes) and `deid scan` through its real
path (files on disk, the shipped basic profile), per category.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from pathlib import Path

import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from deid import actions
from deid.risk.identifiers import Identifier, IdentifierSet
from deid.scan import scan_file
from deid.text import find, names, patterns
from deid.text.tokens import tokenize, words
from fixtures.free_text import Labelled, identifying, technical
from tests.helpers import scan_settings

# Names with no title, role or credential, from a source the gazetteer does
# not come from: the gazetteer and family-name endings alone find these.
UNVOUCHED = "gazetteer-name"
TECH_ATTRIBUTE = {
    "software": "SoftwareVersions",
    "protocol": "ProtocolName",
    "sequence": "SequenceName",
    "kernel": "ConvolutionKernel",
    "coil": "ReceiveCoilName",
    "code-meaning": "CodeMeaning",
    "device": "ManufacturerModelName",
    "readout": "WindowCenterWidthExplanation",
}


@pytest.fixture(scope="module")
def labelled() -> list[Labelled]:
    return identifying(2400)


@pytest.fixture(scope="module")
def strings() -> list[tuple[str, str]]:
    return technical()


def _identifiers(header: dict[str, str]) -> IdentifierSet:
    found = IdentifierSet()
    for keyword, kind in (
        ("PatientName", "name"),
        ("PatientID", "id"),
        ("PatientBirthDate", "date"),
    ):
        if keyword in header:
            found.add(kind, header[keyword], keyword)
    return found


def _left(text: str, planted: list[str]) -> list[str]:
    """Planted words still in `text` (CJK characters one by one)."""
    present = set(words(re.sub(r"\[[a-z]+\]", " ", text)))
    return [w for w in planted if (w in text if len(w) == 1 else words(w)[0] in present)]


def _recall(results: list[tuple[Labelled, str]]) -> dict[str, float]:
    total, missed = Counter(), Counter()
    for value, after in results:
        total[value.category] += len(value.words)
        missed[value.category] += len(_left(after, value.words))
    total["all"], missed["all"] = sum(total.values()), sum(missed.values())
    return {c: 1 - missed[c] / total[c] for c in total}


def _assert_recall(recall: dict[str, float]) -> None:
    for category, share in recall.items():
        floor = 0.90 if category == UNVOUCHED else 0.99
        assert share >= floor, (category, f"{share:.2%}")


def test_labelled_set_is_large_and_varied(labelled, strings):
    assert len(labelled) >= 2000 and len(strings) >= 2000
    categories = Counter(v.category for v in labelled)
    assert set(categories) >= {"own-name", "other-name", "label-name", "date", "phone", "address"}
    text = " ".join(v.text for v in labelled)
    for sample in ("-", "van ", "ü", "é", "山", "Д", "GTV_", "LIVER_"):
        assert sample in text, sample


def test_cleaning_removes_planted_words(labelled):
    results = [(v, actions.clean_text(v.text, _identifiers(v.header).terms())) for v in labelled]
    _assert_recall(_recall(results))


def test_cleaning_leaves_technical_strings(strings):
    changed = [t for _, t in strings if actions.clean_text(t) != t]
    assert len(changed) <= 0.01 * len(strings), changed[:20]


def _file(path: Path, header: dict[str, str], items: list[Dataset], sequence: str) -> None:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = generate_uid()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.Modality = "SR"
    ds.PatientName = header.get("PatientName", "")
    ds.PatientID = header.get("PatientID", "")
    ds.PatientBirthDate = header.get("PatientBirthDate", "")
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    setattr(ds, sequence, Sequence(items))
    ds.save_as(path, enforce_file_format=True)


@functools.cache
def _settings(options: tuple[str, ...]):
    return scan_settings(options=options, pixels="off", face="off", dataset_risk=False, jobs=1)


def _scan(path: Path, options: tuple[str, ...] = ()) -> dict[str, str]:
    return {f.location: f.evidence for f in scan_file(path, _settings(options)).findings}


def _text_item(text: str) -> Dataset:
    item = Dataset()
    item.ValueType = "TEXT"
    item.TextValue = text
    return item


def test_scan_finds_the_words_the_cleaner_removes(labelled, tmp_path):
    """Each value as a structured-report TEXT item (cleaned under Clean
    Structured Content): the scan reports it at its tag path, with the
    planted words redacted, and what the evidence leaves is what the
    cleaner leaves."""
    options = ("clean-structured-content",)
    results, same = [], 0
    pooled = [v for v in labelled if not v.header]
    _file(tmp_path / "pooled.dcm", {}, [_text_item(v.text) for v in pooled], "ContentSequence")
    evidence = _scan(tmp_path / "pooled.dcm", options)
    reported = [
        evidence.get(f"ContentSequence[{i}].TextValue", v.text) for i, v in enumerate(pooled)
    ]
    pairs = list(zip(pooled, reported, strict=True))
    for i, value in enumerate(v for v in labelled if v.header):
        path = tmp_path / f"own{i}.dcm"
        _file(path, value.header, [_text_item(value.text)], "ContentSequence")
        pairs.append((value, _scan(path, options).get("ContentSequence[0].TextValue", value.text)))
    for value, shown in pairs:
        results.append((value, shown))
        cleaned = actions.clean_text(value.text, _identifiers(value.header).terms())
        same += words(re.sub(r"\[[a-z]+\]", " ", shown)) == words(cleaned)
    _assert_recall(_recall(results))
    assert same == len(pairs)


def test_scan_leaves_technical_strings(strings, tmp_path):
    """Technical strings in the attributes they come from, each in an item of
    a sequence the profile keeps and filters: kept (SoftwareVersions...) or,
    for ProtocolName, cleaned under Clean Descriptors."""
    items = []
    for category, text in strings:
        item = Dataset()
        setattr(item, TECH_ATTRIBUTE[category], text)
        items.append(item)
    _file(tmp_path / "tech.dcm", {}, items, "PerFrameFunctionalGroupsSequence")
    flagged = _scan(tmp_path / "tech.dcm", ("clean-descriptors",))
    per_category: Counter[str] = Counter()
    for i, (category, _) in enumerate(strings):
        keyword = TECH_ATTRIBUTE[category]
        per_category[category] += f"PerFrameFunctionalGroupsSequence[{i}].{keyword}" in flagged
    totals = Counter(c for c, _ in strings)
    for category, count in totals.items():
        assert per_category[category] <= max(1, 0.01 * count), (category, per_category[category])


# --------------------------------------------------------------------------
# The tokenizer and the rules, one behaviour at a time


@pytest.mark.parametrize(
    ("header", "text", "left"),
    [
        ("GARCÍA-LÓPEZ^MARÍA", "CT HEAD Maria Garcia Lopez", "CT HEAD"),
        ("GARCIA-LOPEZ^MARIA", "LIVER_GARCÍA", "LIVER"),
        ("van der Berg^Jan", "GTV_vanderBerg ok", "GTV_ ok"),
        ("van der Berg^Jan", "GTV_Berg, JAN VAN DER BERG", "GTV"),
        ("O'Brien^Sean", "Seen: OBRIEN? no, O'Brien", "Seen: ? no"),
        ("al-Hassan^Omar", "ROI Hassan_1", "ROI _1"),
        ("Müller^Jörg", "MüllerJörg", ""),
    ],
)
def test_identifiers_are_matched_by_every_part(header, text, left):
    terms = _identifiers({"PatientName": header}).terms()
    assert actions.clean_text(text, terms) == left


@pytest.mark.parametrize(("header_form", "text_form"), [("NFC", "NFD"), ("NFD", "NFC")])
@pytest.mark.parametrize(
    ("name", "text", "left"),
    [
        ("Müllersohn^Jürgen", "Schädel Jürgen Müllersohn", "Schädel"),
        ("김^민준", "CT 김민준 검사", "CT 검사"),  # Hangul as its jamo
        ("ゴトウ^タロウ", "CT ゴトウ", "CT"),  # kana and its voicing mark apart
    ],
)
def test_a_name_matches_in_either_unicode_normal_form(header_form, text_form, name, text, left):
    """macOS writes accents apart from their letter (NFD): "ü" as "u" and a
    combining mark, a Hangul syllable as its jamo. A name in one form was
    not found in a description in the other, and was kept."""
    import unicodedata

    header = unicodedata.normalize(header_form, name)
    text = unicodedata.normalize(text_form, text)
    terms = _identifiers({"PatientName": header}).terms()
    assert terms.may_match(text)
    assert actions.clean_text(text, terms) == unicodedata.normalize(text_form, left)


def test_tokens_split_on_every_separator_and_fold():
    assert words("GARCÍA-LÓPEZ^María_2.x/Ünal,ß") == [
        "garcia",
        "lopez",
        "maria",
        "2",
        "x",
        "unal",
        "ss",
    ]
    assert [t.text for t in tokenize("LIVER_SMITH2")] == ["LIVER", "SMITH", "2"]


@pytest.mark.parametrize(
    "text", ["5.00.02", "2.6.3.6", "51.80.108.010", "1.2.840.10008.5.1.4", "V3.51*P25", "10.1.16"]
)
def test_versions_are_neither_dates_nor_phones(text):
    assert not list(patterns.dates(text)) and not list(patterns.phones(text))


@pytest.mark.parametrize(
    "text", ["12.03.2021", "2021-03-12", "12 März 2021", "March 12, 2021", "12MAR2021"]
)
def test_written_dates_are_dates(text):
    assert [(0, len(text))] == list(patterns.dates(text))[:1]


def test_dates_must_exist():
    assert not list(patterns.dates("31.02.2021")) and not list(patterns.dates("2021-13-01"))


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Follow-up per Dr Quorvath", "Quorvath"),
        ("FOLLOW UP PER DR QUORVATH", "QUORVATH"),
        ("Physicist: J. van der Velde-Okafor", "J. van der Velde-Okafor"),
        ("seen by Anna Lindqvist RN", "Anna Lindqvist"),
        ("Mother Maria Fernandes present", "Maria Fernandes"),
        ("Reviewed by QUORVATH^ANNA", "QUORVATH^ANNA"),
        ("患者王伟复查", "王伟"),
        ("Results for Roberto von Marquez today", "Roberto von Marquez"),
        ("seen by referring physician Dr Quorvath", "Quorvath"),
        ("Anna-Maria Lindqvist attended", "Anna-Maria Lindqvist"),
    ],
)
def test_person_names_without_a_header(text, name):
    found = [text[s:e] for s, e in names.find(text)]
    assert name in found, found


@pytest.mark.parametrize(
    "text",
    [
        "SIEMENS MR HEADER",
        "MR BRAIN",
        "per protocol",
        "Lown-Ganong-Levine syndrome",
        "Maria Garcia-Lopez syndrome",  # an eponym after hyphen-joined names
        "Agfa-Gevaert AG",
    ],
)
def test_technical_words_are_not_names(text):
    assert names.find(text) == []


def test_redacted_evidence_keeps_context_not_words():
    text = "Follow-up per Dr Quorvath on 12.03.2021"
    assert find.redact(text, find.spans(text)) == "Follow-up per Dr [name] on [date]"


def test_identifier_digits_match_any_grouping():
    item = Identifier("phone", "(217) 555-0147", "PatientTelephoneNumbers")
    for written in ("217.555.0147", "+1 217 555 0147", "2175550147"):
        assert item.found_in(f"call {written}"), written
    assert not item.found_in("call 217 555 0148")


def test_shipped_word_lists_are_what_the_generator_makes():
    """names.txt, months.txt, vocabulary.txt and endings.txt are generated
    from Faker and pydicom (deid/text/data/generate.py), never edited by hand."""
    import faker

    from deid.text.data import generate

    data = Path(generate.__file__).parent
    made = generate.render()
    for name, text in made.items():
        shipped = (data / name).read_text(encoding="utf-8")
        source = shipped.splitlines()[0]
        if (
            f"faker {faker.VERSION}" not in source
            and f"pydicom {pydicom.__version__}" not in source
        ):
            pytest.skip(f"{name} was made from other versions ({source})")
        assert shipped == text, name
    assert (data / "endings.txt").read_text(encoding="utf-8") == generate.endings()


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_any_text_is_handled(text):
    """Free text is data from anywhere: every detector takes any string."""
    found = find.spans(
        text, _identifiers({"PatientName": "Smith^Ann", "PatientID": "MRN1234567"}).terms()
    )
    assert all(0 <= s.start < s.end <= len(text) for s in found)
    actions.clean_text(text)


def test_verification_cleans_a_name_in_kept_text(corpus, manifest, tmp_path, env_key):
    """A profile keeps WindowCenterWidthExplanation; a staff name written
    there is found in the output, the attribute is cleaned of it and the
    file verified again (rather than withheld)."""
    from click.testing import CliRunner

    from deid.cli import main

    source = pydicom.dcmread(corpus / manifest["files"][0]["path"])
    source.WindowCenterWidthExplanation = "Window set per Dr Quorvath"
    path = tmp_path / "in.dcm"
    source.save_as(path)
    reports = tmp_path / "reports"
    result = CliRunner().invoke(
        main, ["run", str(path), "-o", str(tmp_path / "out"), "-q", "--report-dir", str(reports)]
    )
    assert result.exit_code == 0, result.output
    (written,) = (tmp_path / "out").rglob("*.dcm")
    explanation = str(pydicom.dcmread(written).WindowCenterWidthExplanation)
    assert "Quorvath" not in explanation and explanation.startswith("Window set per")
    report = (reports / "report.json").read_text()
    assert "verify.repaired" in report and "Quorvath" not in report


def test_burned_in_text_labels_use_the_same_tokenizer():
    from deid.pixels.classify import AllowList, label

    found = _identifiers({"PatientName": "GARCÍA-LÓPEZ^MARÍA"})
    allow = AllowList(frozenset(), ())
    assert label("LIVER_GARCIA", found, allow).kind == "phi"
    assert label("Lopez M", found, allow).kind == "phi"
    assert label("L 400 W 40", found, allow).kind != "phi"


@pytest.mark.parametrize("vr", [b"PN", b"LO", b"SH", b"CS", b"LT"])
def test_a_patients_name_written_in_another_vr_is_cleaned_from_descriptions(tmp_path, vr):
    # A file that writes PatientName as LO (or SH, CS, LT) holds the same
    # name: it must still be found in the descriptions a profile cleans.
    from pydicom.data import get_testdata_file

    from deid.pipeline import process_file
    from tests.helpers import run_settings

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PatientName = "Quenby^Odalys"
    ds.StudyDescription = "Odalys Quenby chest"
    ds.SeriesDescription = "Quenby follow-up"
    source = tmp_path / "in" / "x.dcm"
    source.parent.mkdir()
    ds.save_as(source, enforce_file_format=True)
    tag_and_vr = b"\x10\x00\x10\x00PN"
    source.write_bytes(source.read_bytes().replace(tag_and_vr, tag_and_vr[:4] + vr, 1))
    out = tmp_path / "out"
    settings = run_settings(
        inputs=[source.parent],
        output=out,
        profile="hipaa-safe-harbor",
        random_key=True,
        pixels="off",
        face="off",
    )
    result = process_file(source, settings)
    assert result.status.value == "written", result.reason
    written = pydicom.dcmread(out / result.output)
    texts = f"{written.StudyDescription} {written.SeriesDescription}".lower()
    assert "quenby" not in texts and "odalys" not in texts


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="ab.+-@ _1\u00e9", max_size=24))
def test_emails_are_found_as_the_plain_pattern_finds_them(text):
    """The linear e-mail finder (deid.text.patterns) gives the spans the
    plain pattern gives, on texts made of the characters that matter."""
    import re

    from deid.text.patterns import EMAIL

    plain = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
    assert [m.span() for m in EMAIL.finditer(text)] == [m.span() for m in plain.finditer(text)]


def _spans_by_pairs(text: str) -> tuple:
    """generic_spans as it was (each span asked against every kept one):
    the reference its log-time version must agree with."""
    from deid.text.find import _GENERIC, Span

    out: list = []
    claimed: list = []
    for kind, finder in _GENERIC:
        for start, end in finder(text):
            if any(s < end and start < e for s, e in claimed):
                continue
            out.append(Span(start, end, kind))
        claimed = [(s.start, s.end) for s in out]
    return tuple(out)


_PIECES = st.sampled_from(
    ["Dr. ", "Smith", " ", "12/03/2021", "John ", "Miller", ", ", "a@b.com", "555-0147",
     "  ", ".", "(", ")", "\n", "Mrs. ", "Garcia", "March 12, 2021", "MRN 12345678", "x"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=30))
def test_patterns_are_found_as_before(pieces):
    """generic_spans was quadratic in the matches of a long text (210 kB
    of dated names: 3 s, 840 kB: 50 s); its log-time version agrees."""
    from deid.text.find import generic_spans

    text = "".join(pieces)
    assert generic_spans.__wrapped__(text) == _spans_by_pairs(text)


_SPANS = st.lists(
    st.tuples(st.integers(0, 40), st.integers(0, 6), st.sampled_from(["name", "date", "id"])),
    max_size=12,
)


@settings(max_examples=500, deadline=None)
@given(_SPANS, st.integers(0, 46), st.integers(0, 6))
def test_an_overlap_is_told_as_by_asking_every_span(spans, start, size):
    from deid.text.find import Span, _Claimed

    kept = [Span(a, a + n, k) for a, n, k in spans]
    end = start + size
    expected = any(s.start < end and start < s.end for s in kept)
    assert _Claimed(kept).overlaps(start, end) == expected


@settings(max_examples=500, deadline=None)
@given(_SPANS)
def test_spans_are_redacted_and_removed_as_before(spans):
    """redact asked every span for each merged range (quadratic too)."""
    import re

    from deid.text.find import Span, redact, remove
    from deid.text.terms import merge

    text = "Dr. Smith,  seen 12/03/2021 ( ) by  Jones ; ok."
    found = [Span(a, a + n, k) for a, n, k in spans]
    if not found:
        assert redact(text, found) == remove(text, found) == text
        return
    kinds: dict = {}
    for s in found:
        kinds.setdefault((s.start, s.end), s.kind)
    expected, kept, at = [], [], 0
    for start, end in merge((s.start, s.end) for s in found):
        kind = next((k for (s, e), k in kinds.items() if s >= start and e <= end), "text")
        expected.append(text[at:start] + f"[{kind}]")
        kept.append(text[at:start])
        at = end
    expected.append(text[at:])
    kept.append(text[at:])
    assert redact(text, found) == "".join(expected)
    joined = re.sub(r"[(\[{]\s*[)\]}]", " ", " ".join(kept))
    joined = re.sub(r"\s+([,;:.])", r"\1", joined)
    assert remove(text, found) == re.sub(r"\s{2,}", " ", joined).strip(" ,;:-_^")


@pytest.mark.parametrize(
    "shape", ["Dr ", "by ", "Anna-", "Anna de ", "Dr. X ", "de ", "address 1 ", "0 ", "00 "]
)
def test_a_long_run_of_one_shape_does_not_stall_the_text_finders(shape):
    """Loops walked from every word of a run to its end: 24 kB of "Dr "
    took 26 s in the name finder (136 s for a run), "0 " runs were cubic in
    the digit matcher (4 kB: 16 s), hyphen-joined names and address cues
    quadratic. 100 kB of each shape must finish in well under the 60 s
    allowed here (a fraction of a second now; minutes to hours before)."""
    import threading

    from deid.text import places
    from deid.text.terms import PhraseIndex

    text = shape * (100_000 // len(shape))
    index = PhraseIndex()
    index.add_digits("12345678", "PatientID")
    done = threading.Event()

    def work() -> None:
        names.find(text), places.find(text), index.find(text), find.generic_spans(text)
        done.set()

    threading.Thread(target=work, daemon=True).start()
    assert done.wait(60), shape


def test_leading_zero_groups_belong_to_the_number_after_them():
    from deid.text.terms import PhraseIndex

    index = PhraseIndex()
    index.add_digits("12345678", "PatientID")
    text = "ID 0 00 1234 5678, ref 0 0"
    spans = {(h.start, h.end) for h in index.find(text)}
    assert (text.index("0 00"), text.index(",")) in spans  # the widest, zeros included
    assert (text.index("1234"), text.index(",")) in spans


@pytest.mark.parametrize("shape", ["tel 555-100-{:04d}", "john@h{}.org"])
def test_many_identifiers_found_in_one_text_do_not_stall_it(shape):
    """Each phone number or address a text holds becomes one of the file's
    own identifiers, and each was compared at every group of digits or
    every word alike: 8 000 phone numbers in one value took 20 s, 16 000
    addresses 33 s. Looked up now; 20 000 must finish in the 60 s allowed."""
    import threading

    from deid.risk.identifiers import IdentifierSet

    text = " ".join(shape.format(i) for i in range(20_000))
    found = IdentifierSet()
    found.add_from_text(text, "TextValue")
    done = threading.Event()
    threading.Thread(target=lambda: (found.terms().find(text), done.set()), daemon=True).start()
    assert done.wait(60), shape


def test_many_identifiers_sharing_a_phrase_do_not_stall_a_text_naming_it():
    """4 000 names sharing a surname each made a hit at every place a text
    named it: 7 million hits, 20 s, for a text naming it 600 times. One hit
    per place and kind now; every full name is still found, and a phrase
    two kinds share is still found as each (verification treats kinds
    apart: only IDs count in a UID)."""
    import threading

    from deid.risk.identifiers import Identifier, IdentifierSet
    from deid.text.terms import PhraseIndex

    found = IdentifierSet()
    for i in range(4_000):
        found.add("name", f"SMITH^JOHN{i:05d}X", "OtherPatientNames")
    text = " ".join(f"Smith John{i:05d}x" for i in range(0, 4_000, 7)) + " Smith" * 600
    result: list = []
    done = threading.Event()
    threading.Thread(
        target=lambda: (result.append(found.terms().find(text)), done.set()), daemon=True
    ).start()
    assert done.wait(20)
    whole = {text[h.start : h.end] for h in result[0]}
    assert {f"Smith John{i:05d}x" for i in range(0, 4_000, 7)} <= whole
    index: PhraseIndex[Identifier] = PhraseIndex()
    for kind, where in (("name", "PatientName"), ("id", "OtherPatientIDs"), ("name", "X")):
        index.add(("walker",), Identifier(kind, "WALKER", where))
    assert sorted(h.label.kind for h in index.find("seen by Walker")) == ["id", "name"]


@pytest.mark.parametrize(
    "written",
    [
        "14031961", "140361", "610314", "March 14th, 1961", "14th of March 1961", "14-Mar-61",
        "14.III.1961", "1961-III-14", "14 III 1961", "14 marca 1961", "14. Maerz 1961",
        "14. März 1961", "14 brezna 1961",
    ],
)  # fmt: skip
def test_the_birth_date_is_found_however_people_write_it(written):
    """Each of these was kept, in a value the profile keeps, next to the
    header's removed birth date (a helper attacking the tool)."""
    birth = Identifier("date", "19610314", "PatientBirthDate")
    assert birth.found_in(f"IV {written} ok"), written
    other = Identifier("date", "19610314", "StudyDate")  # any date: the common forms only
    assert not other.found_in("ref 610314") and birth.found_in("ref 610314")


def test_other_numbers_near_the_birth_dates_digits_are_not_it():
    birth = Identifier("date", "19610314", "PatientBirthDate")
    for text in ("ref 1403196", "version 6.10.314", "kernel 1961031", "14 III", "III 1961"):
        assert not birth.found_in(text), text


@pytest.mark.parametrize(
    ("address", "kept_text", "found"),
    [
        ("ul. Qwertzowa 17, 30-001 Krakow", "IV Qwertzowa 17", True),
        ("ul. Qwertzowa 17, 30-001 Krakow", "IV QWERTZOWA 17, 30-001", True),
        ("ul. Qwertzowa 17", "IV Qwertzowa 17", True),  # one part: the whole value
        ("1600 Pennsylvania Ave NW, Washington, DC 20500", "IV 1600 Pennsylvania Ave", True),
        ("1600 Pennsylvania Ave NW, Washington, DC 20500", "zip 20500", True),
        ("1600 Pennsylvania Ave NW, Washington, DC 20500", "Ave 1600 cm", False),
        ("12 Windmill Lane, Toboso", "Lane 12 cm", False),  # a street word and a number: no one's
        ("Unit 3 Building 1, Toboso", "AX T1 3 1 MM", False),  # numbers alone: anyone's
        ("200 Washington Avenue, Apt 4", "Washington University Medical Center", False),
    ],
)
def test_a_part_of_the_patients_address_is_found_alone(address, kept_text, found):
    """A run kept "IV Qwertzowa 17" from "ul. Qwertzowa 17, 30-001 Krakow":
    only the address's comma-separated parts, whole, were searched."""
    assert Identifier("address", address, "PatientAddress").found_in(kept_text) == found
    # An institution's name is searched whole: its words alone are everyone's.
    assert not Identifier("institution", "Krakow University Hospital", "InstitutionName").found_in(
        "University"
    )
