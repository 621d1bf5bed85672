"""Encapsulated documents: de-identified, not destroyed; withheld when they cannot be.

Outputs are read back independently of the code that wrote them: pages are
rendered with PDFium and read whole by Tesseract (not through deid's text
detector), text layers are extracted, XML is parsed with ElementTree.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pypdfium2
import pytest
from click.testing import CliRunner

from deid.cli import main
from deid.documents import DateHandling, DateMode, deidentify_document
from deid.documents.inspect import inspect_document
from deid.pixels.settings import PixelSettings, tesseract_available
from deid.risk.findings import Severity
from deid.risk.identifiers import IdentifierSet
from fixtures import documents as fx

PDF = "application/pdf"
CDA = "text/XML"
CLINICAL_WORDS = ["CONTRAST", "INTRACRANIAL", "HEMORRHAGE", "VENTRICLES", "IMPRESSION", "ADDENDUM"]


def header_identifiers() -> IdentifierSet:
    ids = IdentifierSet()
    for kind, values in fx.identifiers_in_header().items():
        for value in values:
            ids.add(kind, value, "header")
    return ids


def run(data: bytes, mime: str = PDF, redact: str = "phi", **kw):
    pixels = PixelSettings(redact=redact)
    return deidentify_document(mime, data, header_identifiers(), pixels, "doc.dcm", **kw)


def _normal(text: str) -> str:
    return " ".join(text.upper().split())


def ocr_pages(pdf: bytes, dpi: int = 200) -> list[str]:
    """Every page rendered and read whole by the tesseract binary."""
    import pytesseract

    pytesseract.pytesseract.tesseract_cmd = tesseract_available()
    doc = pypdfium2.PdfDocument(pdf)
    try:
        return [
            _normal(pytesseract.image_to_string(page.render(scale=dpi / 72).to_pil()))
            for page in doc
        ]
    finally:
        doc.close()


def text_layer(pdf: bytes) -> str:
    doc = pypdfium2.PdfDocument(pdf)
    try:
        return "".join(page.get_textpage().get_text_range() for page in doc)
    finally:
        doc.close()


def page_sizes(pdf: bytes) -> list[tuple[float, float]]:
    doc = pypdfium2.PdfDocument(pdf)
    try:
        return [tuple(round(v, 2) for v in page.get_size()) for page in doc]
    finally:
        doc.close()


def stream_text(pdf: bytes) -> bytes:
    """The file with every Flate stream inflated: what a text search of it finds."""
    out = [pdf]
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        with contextlib.suppress(zlib.error):
            out.append(zlib.decompress(match.group(1)))
    return b"\n".join(out)


@pytest.fixture(scope="module")
def outputs() -> dict:
    """The fixtures' PDFs de-identified once under --redact phi."""
    sources = {
        "text": fx.text_pdf(),
        "scanned": fx.scanned_pdf(),
        "chart": fx.chart_pdf(),
    }
    return {name: (data, run(data)) for name, data in sources.items()}


@pytest.mark.parametrize("name", ["text", "scanned"])
def test_identifying_text_is_not_readable_afterwards(outputs: dict, name: str) -> None:
    source, outcome = outputs[name]
    assert outcome.data is not None, outcome.description
    before = " ".join(ocr_pages(source))
    after = " ".join(ocr_pages(outcome.data))
    planted = [_normal(v) for v in fx.planted()] + ["4821337", "1965"]
    assert [v for v in planted if v in before], "the fixture must show the values to begin with"
    assert [v for v in planted if v in after] == []
    assert [v for v in planted if v in _normal(text_layer(outcome.data))] == []
    everything = stream_text(outcome.data).upper()
    assert [v for v in planted if v.encode() in everything] == []


@pytest.mark.parametrize("name", ["text", "scanned"])
def test_clinical_text_stays_legible_under_redact_phi(outputs: dict, name: str) -> None:
    _, outcome = outputs[name]
    after = " ".join(ocr_pages(outcome.data))
    assert [w for w in CLINICAL_WORDS if w not in after] == []


@pytest.mark.parametrize("name", ["text", "scanned"])
def test_the_report_stays_searchable(outputs: dict, name: str) -> None:
    """Pages written as pictures alone lost the text layer: a report could
    no longer be searched, copied or mined. The lines read and kept are
    written invisibly over the picture, each where it was read."""
    _, outcome = outputs[name]
    layer = _normal(text_layer(outcome.data))
    assert [w for w in CLINICAL_WORDS if w not in layer] == []
    doc = pypdfium2.PdfDocument(outcome.data)
    try:
        page = doc[0]
        found = page.get_textpage().search("INTRACRANIAL", match_case=False).get_next()
        assert found is not None
        left, bottom, right, top = page.get_textpage().get_charbox(found[0])
        width, height = page.get_size()
        assert 0 <= left < right <= width and 0 <= bottom < top <= height
    finally:
        doc.close()


def test_a_kept_line_the_free_text_check_flags_stays_out_of_the_text_layer() -> None:
    from deid.documents.pdf import _searchable
    from deid.pixels.detect import Box

    ids = IdentifierSet()
    ids.add("name", "QUIXOTE^ALONSO", "PatientName")
    box = Box(0, 0, 10, 10)
    lines = [("Seen by Alonso Quixote", box), ("No change since 2019-04-02.", box)]
    lines.append(("Normal.", box))
    assert _searchable(lines, ids) == [("Normal.", box)]


@pytest.mark.parametrize("name", ["text", "scanned", "chart"])
def test_output_is_a_new_pdf_of_pictures_with_the_same_pages(outputs: dict, name: str) -> None:
    source, outcome = outputs[name]
    assert page_sizes(outcome.data) == page_sizes(source)
    doc = pypdfium2.PdfDocument(outcome.data)
    try:
        assert doc.get_metadata_dict(skip_empty=True) == {}
        assert doc.count_attachments() == 0
        assert doc.get_formtype() == 0
        for page in doc:  # a picture and the invisible text read on it
            kinds = {obj.type for obj in page.get_objects()}
            assert kinds <= {pypdfium2.raw.FPDF_PAGEOBJ_IMAGE, pypdfium2.raw.FPDF_PAGEOBJ_TEXT}
            assert pypdfium2.raw.FPDF_PAGEOBJ_IMAGE in kinds
    finally:
        doc.close()
    for token in (
        b"/JS",
        b"/JavaScript",
        b"/Annots",
        b"/EmbeddedFile",
        b"/Metadata",
        b"/Info",
        b"/AcroForm",
        b"/FontFile",  # no embedded font: the text layer uses a standard one
        b"/OpenAction",
        b"/Names",
    ):
        assert token not in outcome.data, token


def test_cross_reference_table_points_at_every_object(outputs: dict) -> None:
    """Read without PDFium, which repairs broken files silently."""
    _, outcome = outputs["text"]
    data = outcome.data
    start = int(re.search(rb"startxref\n(\d+)\n%%EOF\n$", data).group(1))
    assert data[start:].startswith(b"xref\n0 ")
    entries = re.findall(rb"(\d{10}) 00000 n \n", data[start:])
    assert len(entries) == len(re.findall(rb"\n\d+ 0 obj\n", data))
    for number, offset in enumerate(entries, 1):
        assert data[int(offset) :].startswith(f"{number} 0 obj\n".encode())


def test_the_source_had_every_hiding_place(outputs: dict) -> None:
    """The checks above mean something only if the input had what they look for."""
    source, outcome = outputs["text"]
    for token in (b"/JS", b"/Annots", b"/EmbeddedFile", b"/Metadata", b"/Info", b"/Font"):
        assert token in source
    parts = [f for f in outcome.findings if f.rule == "document.pdf-parts"]
    assert parts and "attached" in parts[0].message and "JavaScript" in parts[0].message


def test_text_free_pages_are_written_unredacted(outputs: dict) -> None:
    source, outcome = outputs["chart"]
    assert not [f for f in outcome.findings if f.rule.startswith("document.text")]
    before = pypdfium2.PdfDocument(source)[0].render(scale=200 / 72).to_numpy()
    after = pypdfium2.PdfDocument(outcome.data)[0].render(scale=200 / 72).to_numpy()
    assert before.shape == after.shape
    difference = np.abs(before.astype(int) - after.astype(int))
    assert float(difference.mean()) < 1.0 and np.percentile(difference, 99.9) < 16


def test_redact_all_text_leaves_no_legible_word() -> None:
    outcome = run(fx.scanned_pdf(), redact="all-text")
    assert outcome.data is not None, outcome.description
    words = [
        w for w in " ".join(ocr_pages(outcome.data)).split() if sum(c.isalpha() for c in w) > 2
    ]
    assert words == []


def test_text_left_after_redaction_withholds_the_document(monkeypatch) -> None:
    from deid.documents import pages

    monkeypatch.setattr(pages, "FILL", 255)  # "redaction" in white: the text stays
    monkeypatch.setattr(pages, "mask_for", lambda boxes, shape: np.zeros(shape, bool))
    outcome = run(fx.scanned_pdf())
    assert outcome.data is None
    rules = {f.rule: f for f in outcome.findings}
    assert rules["document.residual-text"].severity is Severity.HIGH
    assert "withheld" in outcome.description


ENCRYPTED = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
    b"3 0 obj << /Filter /Standard /V 2 /R 3 /Length 128 /P -3904 "
    b"/O <" + b"11" * 32 + b"> /U <" + b"22" * 32 + b"> >> endobj\n"
    b"trailer << /Root 1 0 R /Encrypt 3 0 R /ID [<00112233445566778899aabbccddeeff>"
    b"<00112233445566778899aabbccddeeff>] >>\n%%EOF\n"
)


@pytest.mark.parametrize(
    "mime, data, pixels, reason",
    [
        ("model/stl", b"solid QUIXOTE\nendsolid", "auto", "MIME type"),
        ("", b"%PDF-1.7", "auto", "MIME type"),
        ("text/plain", b"QUIXOTE ALONSO", "auto", "MIME type"),
        (PDF, b"\x00" * 8, "auto", "empty"),
        (PDF, b"<html>QUIXOTE</html>", "auto", "no PDF header"),
        (PDF, b"%PDF-1.4\n" + b"\x07" * 64, "auto", "damaged"),
        (PDF, ENCRYPTED, "auto", "password"),
        (PDF, fx.chart_pdf(), "off", "--pixels off"),
        (PDF, fx.text_pdf([(["a poster"], (20000.0, 20000.0), 0)], False), "auto", "too large"),
        (PDF, fx.text_pdf([(["page"], (612.0, 792.0), 0)] * 201, False), "auto", "201 pages"),
        (CDA, b"<a>QUIXOTE", "auto", "not well-formed"),
        (CDA, fx.LAUGHS, "auto", "DOCTYPE"),
        (CDA, fx.EXTERNAL, "auto", "DOCTYPE"),
        (CDA, b"<a>" * 300 + b"</a>" * 300, "auto", "nested"),
    ],
)
def test_what_cannot_be_handled_is_withheld_with_a_finding(mime, data, pixels, reason) -> None:
    outcome = deidentify_document(
        mime, data, header_identifiers(), PixelSettings(mode=pixels), "doc.dcm"
    )
    assert outcome.data is None
    assert reason in outcome.description
    assert any(f.action == "output withheld" and reason in f.message for f in outcome.findings)


def test_redact_none_withholds_a_pdf_rather_than_write_it_unredacted() -> None:
    outcome = run(fx.chart_pdf(), redact="none")
    assert outcome.data is None and "--redact none" in outcome.description


# --------------------------------------------------------------------------
# CDA


@pytest.fixture(scope="module")
def cda() -> tuple[bytes, ET.Element]:
    outcome = run(fx.cda_document(), CDA)
    assert outcome.data is not None, outcome.description
    return outcome.data, ET.fromstring(outcome.data)


V3 = "{urn:hl7-org:v3}"


def test_cda_output_parses_and_holds_no_planted_identifier(cda) -> None:
    data, _ = cda
    p = fx.PATIENT
    text = data.decode("utf-8").upper()
    planted = [
        *fx.planted(),
        p.middle,
        p.accession,
        p.birth_date,
        "555-0147",
        p.email,
        "Windmill",
        "62704",
        "1122334455",
        "Cervantes Memorial",
        "cervantes.example.org",
        "exported for",
    ]
    assert [v for v in planted if v.upper() in fx.cda_document().decode().upper()] == planted
    assert [v for v in planted if v.upper() in text] == []


def test_cda_keeps_its_shape_codes_and_clinical_text(cda) -> None:
    _, root = cda
    assert root.tag == f"{V3}ClinicalDocument"
    assert root.find(f"{V3}templateId").get("root") == "2.16.840.1.113883.10.20.22.1.1"
    values = root.findall(f".//{V3}value")
    xsi = "{http://www.w3.org/2001/XMLSchema-instance}type"
    assert {(v.get(xsi), v.get("code"), v.get("value"), v.get("unit")) for v in values} == {
        ("CD", "371525003", None, None),
        ("PQ", None, "12.5", "mm"),
    }
    paragraphs = [" ".join(p.itertext()) for p in root.iter(f"{V3}paragraph")]
    assert "No acute intracranial hemorrhage. Ventricles normal in size." in paragraphs
    patient = root.find(f".//{V3}patient")
    assert all(child.get("nullFlavor") == "MSK" and not len(child) for child in patient)
    assert root.find(f".//{V3}raceCode") is None  # sdtc:raceCode keeps its own namespace
    assert root.find(".//{urn:hl7-org:sdtc}raceCode").get("nullFlavor") == "MSK"


@pytest.mark.parametrize(
    "dates, expected",
    [
        (DateHandling(), None),
        (DateHandling.shift(10), "20230324101500-0500"),
        (DateHandling(DateMode.KEEP), "20230314101500-0500"),
    ],
)
def test_cda_structured_dates_follow_the_profile(dates, expected) -> None:
    outcome = run(fx.cda_document(), CDA, dates=dates)
    root = ET.fromstring(outcome.data)
    effective = root.find(f"{V3}effectiveTime")
    assert effective.get("value") == expected
    assert (effective.get("nullFlavor") == "MSK") == (expected is None)


def test_cda_names_spelled_differently_from_the_header_are_still_cleaned() -> None:
    """The narrative names the author as the CDA header spells him; the DICOM
    header of this file holds nobody."""
    outcome = deidentify_document(CDA, fx.cda_document(), IdentifierSet(), PixelSettings(), "x")
    text = outcome.data.decode().upper()
    for value in (fx.PATIENT.family, fx.PATIENT.given, "CARRASCO", fx.PATIENT.patient_id):
        assert value.upper() not in text


# --------------------------------------------------------------------------
# deid scan


def test_inspection_reports_the_original_and_not_deids_output(outputs: dict, cda) -> None:
    ids, pixels = header_identifiers(), PixelSettings()
    for source, outcome, mime in (
        (*outputs["text"], PDF),
        (*outputs["scanned"], PDF),
        (fx.cda_document(), cda[0], CDA),
    ):
        before = inspect_document(mime, source, ids, pixels, "in")
        after = inspect_document(
            mime, outcome.data if hasattr(outcome, "data") else outcome, ids, pixels, "out"
        )
        assert max(f.severity for f in before) is Severity.HIGH
        assert max(f.severity for f in after) is Severity.INFO, [f.message for f in after]


def scan_rules(path: Path) -> dict[str, str]:
    result = CliRunner().invoke(main, ["scan", str(path), "--format", "json"])
    report = json.loads(result.output)
    findings = report["files"][0]["findings"]
    return {f["rule"]: f["severity"] for f in findings if f["rule"].startswith(("content", "pix"))}


@pytest.mark.parametrize(
    "mime, sop_class, make",
    [
        (PDF, fx.ENCAPSULATED_PDF, fx.text_pdf),
        (CDA, fx.ENCAPSULATED_CDA, fx.cda_document),
    ],
)
def test_scan_of_a_deidentified_document_is_not_high(tmp_path, mime, sop_class, make) -> None:
    """What the run step does with the outcome (new bytes, their length,
    BurnedInAnnotation NO), then `deid scan` on the file."""
    original = tmp_path / "original.dcm"
    fx.encapsulated(make(), mime, sop_class).save_as(original, enforce_file_format=True)
    rules = scan_rules(original)
    assert rules.get("content.document-identifier") == "high"
    ds = pydicom.dcmread(original)
    outcome = run(make(), mime)
    ds.EncapsulatedDocument = outcome.data + b"\x00" * (len(outcome.data) % 2)
    ds.EncapsulatedDocumentLength = len(outcome.data)
    ds.BurnedInAnnotation = "NO"
    done = tmp_path / "done.dcm"
    ds.save_as(done, enforce_file_format=True)
    rules = scan_rules(done)
    assert rules == {"content.document-examined": "info"}


def test_scan_of_an_old_zeroed_document_is_info(tmp_path) -> None:
    ds = fx.encapsulated(b"\x00" * 8, "")
    del ds.MIMETypeOfEncapsulatedDocument
    ds.BurnedInAnnotation = "NO"
    path = tmp_path / "zeros.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert scan_rules(path) == {"content.document-examined": "info"}


def test_a_pdf_inside_a_cda_is_deidentified_and_other_embedded_content_masked() -> None:
    source = fx.cda_with_pdf(fx.scanned_pdf())
    outcome = run(source, CDA)
    assert outcome.data is not None, outcome.description
    root = ET.fromstring(outcome.data)
    body = root.find(f".//{V3}nonXMLBody/{V3}text")
    assert body.attrib == {"mediaType": "application/pdf", "representation": "B64"}
    pdf = base64.b64decode("".join(body.text.split()))
    after = " ".join(ocr_pages(pdf))
    planted = [_normal(v) for v in fx.planted()]
    assert [v for v in planted if v in after] == []
    assert "INTRACRANIAL" in after
    media = root.find(f".//{V3}observationMedia/{V3}value")
    assert media.attrib == {"nullFlavor": "MSK"} and not media.text
    ids = header_identifiers()
    before = inspect_document(CDA, source, ids, PixelSettings(), "in")
    assert any(f.rule == "content.document-identifier" and "embedded" in f.location for f in before)
    assert max(
        f.severity for f in inspect_document(CDA, outcome.data, ids, PixelSettings(), "x")
    ) is (Severity.INFO)


@pytest.mark.parametrize(
    "mime, sop_class, make",
    [
        (PDF, fx.ENCAPSULATED_PDF, fx.text_pdf),
        (CDA, fx.ENCAPSULATED_CDA, fx.cda_document),
    ],
)
def test_deid_run_writes_the_document_deidentified_and_scan_agrees(
    tmp_path, mime, sop_class, make
) -> None:
    """End to end: `deid run` de-identifies the document (it used to write 8
    zero bytes), keeps its MIME type and a cleaned title, and `deid scan`
    of the output finds nothing identifying."""
    source = tmp_path / "in" / "doc.dcm"
    source.parent.mkdir()
    original = fx.encapsulated(make(), mime, sop_class)
    original.save_as(source, enforce_file_format=True)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["run", str(source.parent), "-o", str(out), "-q", "--random-key"]
    )
    assert result.exit_code == 0, result.output
    (written,) = out.rglob("*.dcm")
    ds = pydicom.dcmread(written)
    data = bytes(ds.EncapsulatedDocument)[: ds.EncapsulatedDocumentLength]
    assert len(data) > 1000 and data != bytes(original.EncapsulatedDocument)
    assert ds.MIMETypeOfEncapsulatedDocument == mime
    text = data.decode("latin-1").upper()
    if mime == PDF:  # pages are pictures now: read them as a person would
        text += " ".join(ocr_pages(data)).upper()
    for value in fx.planted():
        assert value.upper() not in text, value
    assert scan_rules(written) == {"content.document-examined": "info"}


def test_a_withheld_document_never_exits_zero(tmp_path: Path) -> None:
    """Under --pixels off a PDF cannot be checked: withheld (nothing written)
    with a medium finding, which the default --fail-on high let exit 0 — a
    pipeline checking the exit code never learnt an output was missing."""
    source = tmp_path / "in" / "doc.dcm"
    source.parent.mkdir()
    fx.encapsulated(fx.chart_pdf(), PDF).save_as(source, enforce_file_format=True)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["run", str(source.parent), "-o", str(out), "-q", "--random-key", "--pixels", "off",
               "--report-dir", str(tmp_path / "r")],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    assert not list(out.rglob("*.dcm"))
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["files"][0]["status"] == "withheld"
    assert report["totals"]["at_or_above_fail_on"] == 0  # the withheld output alone sets it
    page = (tmp_path / "r" / "report.html").read_text()
    assert "Exit code 1: 1 output withheld." in page


@pytest.mark.parametrize(
    ("read", "extracted"),
    [
        ("Café – “quoted” €5 ½", "Café – “quoted” €5 ½"),  # WinAnsi's 0x80-0x9F too
        ("ﬁnal résumé", "final résumé"),  # a ligature split, not dropped
        ("a\\b (c) d)", "a\\b (c) d)"),  # escaped, not read as PDF syntax
        ("日本 ok", " ok"),  # what WinAnsi cannot write is left out
    ],
)
def test_the_text_layer_writes_what_was_read(read: str, extracted: str) -> None:
    from deid.documents.pdf_writer import ImagePdf
    from deid.pixels.detect import Box

    writer = ImagePdf()
    page = np.full((200, 400), 255, np.uint8)
    writer.add_page(page, 400.0, 200.0, [(read, Box(10, 20, 300, 30))])
    assert text_layer(writer.finish()).strip() == extracted.strip()
