"""Residual-PHI verification: read the output back and look for the input.

Runs on the exact bytes that are written. Every text-bearing element at any
depth, private ones and the file meta included, is searched for the file's
own identifying values, through the same tokenizer the cleaner uses, and
free text is searched for person names no header held (deid.text.names).
Dates are searched in text, not in date elements, whose values the profile
controls and where a shifted date may coincide with another original one by
chance.
"""

from __future__ import annotations

import re
import struct
import zlib
from io import BytesIO
from typing import NamedTuple

import pydicom
from pydicom.charset import convert_encodings, default_encoding, python_encoding
from pydicom.datadict import dictionary_has_tag, dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ImplicitVRLittleEndian,
)
from pydicom.values import convert_value

from deid.actions import NUMERIC_TEXT_VRS, TEXT_VRS
from deid.codes import CODE_MEANING, standard_meaning
from deid.elements import in_tag_order
from deid.forms import BINARY_NUMBER_VRS, FORMS, binary_bytes, raw_has_form, value_text
from deid.raw_walk import PREAMBLE, CannotTell, Value, every_value, looks_explicit, meta
from deid.risk.findings import Finding, Severity
from deid.risk.identifiers import Identifier, IdentifierSet
from deid.scrub import tag_name
from deid.text import find, names
from deid.text.lexicon import lexicon
from deid.text.terms import PhraseIndex

_SEARCHED_VRS = TEXT_VRS | {"CS", "UI", "UN", "OB"}
# Numbers, dates and times: read too, searched when not of their form (text
# where a number is due: an implicit-VR file's private value, say), or when
# a value is a long number (an ID or a birth date typed into one). Binary
# values: their bytes, for whole words (a name hidden in a lookup table).
_BINARY_VRS = frozenset({"OW", "OF", "OD", "OL", "OV"}) | BINARY_NUMBER_VRS
_READ_VRS = _SEARCHED_VRS | FORMS.keys() | _BINARY_VRS
_LONG_NUMBER = re.compile(r"(?<![\d.])\d{6,}(?![\d.])")
_MIN_IN_BINARY = 5  # characters of a hit in binary bytes: shorter ones come by chance
# Free text searched for names: not PN (a profile decides those by rule, and
# deid writes dummies and pseudonyms there), AE, URLs or codes.
_NAMED_VRS = frozenset({"LO", "SH", "LT", "ST", "UT", "UC"})
# Values deid itself writes, never the input's: not searched for identifiers.
_DEID_CONSTANTS = {"FileMeta.ImplementationVersionName", "FileMeta.ImplementationClassUID"}
_CONSTANT_TAGS = {0x00020013, 0x00020012}  # the two above, by tag
CHARACTER_SET, DEIDENTIFICATION_METHOD = 0x00080005, 0x00120063
# deid writes both whole (its name, the profile's, the options', CID 7050's
# meanings), nothing of the input: a patient named Bašić ("basic") had the
# profile's name cut out of them, and 113100's meaning with it.
_OWN_MARKERS = frozenset({DEIDENTIFICATION_METHOD, 0x00120064})
_OWN_MARKER_PLACES = ("DeidentificationMethod", "DeidentificationMethodCodeSequence[")
# Runs of the raw bytes between zero bytes: every text value is inside one
# (in little endian a value starts after a length's zero byte), with at most
# a tag byte glued after it and, in big endian, a length byte before it.
# Runs of two or more; a name needs three characters or more (a title and
# a word, two capitalised words) unless it is two CJK characters.
_RUN = re.compile(r"[^\x00]{2,}")
# Other control characters split no word for the name finder: spaces here.
_CONTROLS = re.compile(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_WORDISH = re.compile(r"[^\W\d_]{2}")
_BULK_LIMIT = 65536
_BULK_TAGS = {0x7FE00010, 0x7FE00008, 0x7FE00009, 0x54001010, 0x00420011}
_MULTI_BYTE = {"shift_jis", "GB18030", "GBK", "GB2312", "euc_kr"}
# A code string's value as the standard defines them: one word of capitals,
# digits and underscores, at most 16 characters (PS3.5 6.2).
_ONE_CODE = re.compile(r"[A-Z0-9_]{1,16}")


def _texts(ds: Dataset, prefix: str = ""):
    for tag, stored_elem in in_tag_order(ds):
        vr = stored_elem.VR
        if tag in _BULK_TAGS or (vr is not None and vr != "SQ" and vr not in _READ_VRS):
            continue  # decoding cannot make it text: an explicit VR other than UN stays
        if tag == CODE_MEANING and standard_meaning(ds):
            continue  # the vocabulary's words for its code (deid.codes)
        elem = ds[tag]
        if elem.VR == "SQ":
            where = f"{prefix}{tag_name(int(tag))}"
            for i, item in enumerate(elem.value or []):
                yield from _texts(item, f"{where}[{i}].")
            continue
        text = _text(int(tag), elem.VR, elem.value)
        if text is not None:
            where = f"{prefix}{tag_name(int(tag))}"
            yield where, elem.VR, _named(int(tag), elem.VR), _coded(int(tag), elem.VR), text


def _text(tag: int, vr: str, value: object) -> str | None:
    """A decoded value as the check searches it; None where it holds no text."""
    if value is None or vr not in _READ_VRS:
        return None
    if vr in BINARY_NUMBER_VRS:
        value = binary_bytes(vr, value)
        if value is None:
            return None
    elif vr not in _SEARCHED_VRS and vr not in _BINARY_VRS:
        raw = value_text(value)
        if raw is not None and raw_has_form(vr, raw):
            # A date of its form is a date (dates are the profile's to
            # decide); a number is searched only when it is long.
            text = raw.decode("ascii")
            long = vr in NUMERIC_TEXT_VRS and _LONG_NUMBER.search(text) is not None
            return text if long else None
        value = str(value)
    if (tag >> 16 & 0xFF00) in (0x6000, 0x5000) and vr in ("OB", "OW"):
        return None  # overlay and curve bitmaps
    if isinstance(value, bytes):
        if len(value) > _BULK_LIMIT:
            return None
        text = value.decode("latin-1")
    elif isinstance(value, MultiValue | list | tuple):
        text = "\\".join(str(v) for v in value)
    else:
        # One value, whatever its type (a PersonName iterates over its
        # characters: joining those hid every kept name from this check).
        text = str(value)
    return text if text.strip() else None


def _named(tag: int, vr: str) -> bool:
    """Free text searched for names too; a private creator (a vendor's block
    name) is not a person."""
    return vr in _NAMED_VRS and not (tag >> 16 & 1 and 0x10 <= tag & 0xFFFF < 0x100)


def _coded(tag: int, vr: str) -> bool:
    """An attribute of the standard whose values are codes (CS):
    BodyPartExamined, ImageType, Modality. By the dictionary, not the file:
    a tag it does not know, or free text written as CS, holds no codes."""
    if vr != "CS" or tag >> 16 & 1 or not dictionary_has_tag(tag):
        return False
    return dictionary_VR(tag) == "CS"


def _a_code(text: str, start: int, end: int) -> bool:
    """A hit that is one whole value of a code string, and that value a
    technical word of the standard (deid/text/data/vocabulary.txt: in three
    entries or more) that no name list knows as a name: Mr Head's
    BodyPartExamined HEAD, the ImageType PERFUSION of a phantom named
    "Perfusion". Such a code names a body part or a kind of image, never the
    person: withholding for it lost every such file. A word that is also a
    known name stays a leak (WILLIAMS, BROWN and TAYLOR are words of the
    standard too), as does a surname typed into a code (KOWALSKA), the name
    written whole (HEAD THOMAS) or not as a code (Head)."""
    left = text.rfind("\\", 0, start) + 1
    right = text.find("\\", end)
    right = len(text) if right < 0 else right
    if text[left:start].strip(" ") or text[end:right].strip(" "):
        return False
    code = text[start:end]
    if _ONE_CODE.fullmatch(code) is None:
        return False
    word, lex = code.lower(), lexicon()
    return word in lex.technical and not lex.is_name(word)


def _header_bytes(data: bytes, pixel_data: bytes | None) -> bytes:
    """The output bytes minus the pixel data value (the one bulk value known
    not to be text); everything else, meta included, is searched."""
    if pixel_data:
        size = len(pixel_data)
        # Pixel data nearly always ends the file (native, or encapsulated and
        # followed by its 8-byte delimiter): compare there before searching.
        for end in (len(data), len(data) - 8):
            if end >= size and data.endswith(pixel_data, 0, end):  # compared in place
                return data[: end - size] + data[end:]
        at = data.rfind(pixel_data)
        if at >= 0:
            data = data[:at] + b"\x00" + data[at + size :]
    return data


class Searched(NamedTuple):
    """The file as searched, its transfer syntax, and where its meta group
    ends (in a deflated file, where the compressed stream began)."""

    data: bytes
    syntax: str
    meta_end: int


def _data_set(data: bytes) -> Searched | None:
    """The file as searched, a deflated data set inflated (searched
    compressed, every value in it would pass unseen); None where the meta
    group cannot be walked or the data set does not inflate: the file is
    parsed."""
    if data[PREAMBLE : PREAMBLE + 4] != b"DICM":
        return None
    try:
        meta_end, syntax = meta(data, PREAMBLE + 4)
    except CannotTell:
        return None
    if syntax != DeflatedExplicitVRLittleEndian:
        return Searched(data, syntax, meta_end)
    try:
        inflated = zlib.decompress(data[meta_end:], -zlib.MAX_WBITS)
    except zlib.error:
        return None
    return Searched(data[:meta_end] + inflated, syntax, meta_end)


def _readings(
    header: bytes, syntax: str, character_set: str | list[str] | None, escapes: bool
) -> list[str] | None:
    """The header as text in every way the check reads a value of it: Latin-1
    (bytes values) and the data set's character set. None where the raw
    bytes cannot stand for the text (`escapes`: an escape byte in a value
    pydicom decodes as text; multi-byte sets other than UTF-8, a character
    set inside a sequence item): the file is parsed."""
    if escapes:
        return None  # pydicom drops escape sequences inside any value it decodes
    terms = [character_set] if isinstance(character_set, str) else list(character_set or [])
    declared = header.count(b"\x08\x00\x05\x00")
    if syntax == ExplicitVRBigEndian:
        declared += header.count(b"\x00\x08\x00\x05")
    if len(terms) > 1 or declared > (1 if terms else 0):
        return None
    term = terms[0].strip() if terms else ""
    codec = "utf-8" if term == "ISO_IR 192" else python_encoding.get(term)
    if codec is None or term.startswith("ISO 2022") or codec in _MULTI_BYTE:
        return None
    latin = header.decode("latin-1")
    if latin.isascii() or codec in ("latin_1", "iso8859"):
        return [latin]
    try:
        return [latin, header.decode(codec, "replace")]
    except LookupError:
        return None


# Values pydicom never decodes as text: an escape byte there changes no
# reading (a lookup table or an overlay of a kilobyte or more nearly always
# holds one, and sent every such output to the slower passes).
_ESCAPE_FREE_VRS = frozenset(
    {b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"US", b"SS", b"UL", b"SL", b"FL", b"FD",
     b"SV", b"UV", b"AT"}
)  # fmt: skip


class Walked(NamedTuple):
    """Every value of the meta group and of the data set, at every depth."""

    meta: list[Value]
    data_set: list[Value]


def _walk(searched: Searched) -> Walked | None:
    """The output's values as the second pass reads them; None where the
    walk cannot read the file as pydicom would (implicit VR, big endian)."""
    data, syntax, meta_end = searched
    if syntax in (ImplicitVRLittleEndian, ExplicitVRBigEndian):
        return None
    try:
        if not looks_explicit(data, meta_end):
            return None
        in_meta = list(every_value(data, PREAMBLE + 4, meta_end))
        return Walked(in_meta, list(every_value(data, meta_end, len(data))))
    except (CannotTell, struct.error):
        return None


def _escape_in_text(data: bytes, walked: Walked | None) -> bool:
    """Whether an escape byte may sit in a value decoded as text; True where
    the walk cannot tell (the file is parsed then)."""
    if walked is None:
        return True
    return any(
        data.find(b"\x1b", start, start + length) >= 0
        for _, vr, start, length, _ in (*walked.meta, *walked.data_set)
        if vr not in _ESCAPE_FREE_VRS
    )


def _may_leak(texts: list[str], terms: PhraseIndex[Identifier]) -> bool:
    """A cheap pass over the raw bytes that rules a clean output in: no
    identifier's words, no identifier's digits, no name in any text run.

    `texts` are the readings of the raw bytes (see _readings): an accented
    name folds to the same words in Latin-1 as in the file's own character
    set. Values in other character sets make the index unfilterable, and
    every such file is parsed.
    """
    if terms and any(terms.may_match(t) for t in texts):
        return True
    for n, text in enumerate(texts):
        for run in set(_RUN.findall(_CONTROLS.sub(" ", text))):
            if run.isascii() and (n or len(run) < 3):
                continue  # ASCII reads the same in every reading
            if not _WORDISH.search(run):
                continue
            # A byte of the next tag may be glued after a value ("Smith" +
            # "T\x00", "Lind" + "8\x00"), a length byte before it (big
            # endian): the run without its last or first byte is checked too.
            if names.find(run) or names.find(run[:-1]) or names.find(run[1:]):
                return True
    return False


def _values_clear(
    searched: Searched, terms: PhraseIndex[Identifier], walked: Walked | None
) -> bool:
    """The second pass, for a file the raw bytes did not clear: each text
    value read from its own bytes and decoded by pydicom's own converter, as
    the parse decodes it, then checked as the parse checks it. Values apart,
    a name cannot run into a neighbour's bytes, nor a phrase across two
    elements. True only when every value was read so and none holds an
    identifier; where the walk cannot read the file as pydicom would
    (`walked` None; UN values, a character set in an item), the file is
    parsed."""
    if walked is None or any(value[0] == CHARACTER_SET for value in walked.meta):
        return False  # an item of the meta decoded in its own set
    data = searched.data
    try:
        encodings = _encodings(data, walked.data_set)
        for values, coding, is_meta in (
            (walked.meta, default_encoding, True),
            (walked.data_set, encodings, False),
        ):
            own = False
            for tag, vr, start, length, depth in values:
                if not depth:
                    own = not is_meta and tag in _OWN_MARKERS
                if not own and _holds_identifier(
                    data, tag, vr.decode(), start, length, depth, coding, is_meta, terms
                ):
                    return False
    except (CannotTell, struct.error):
        return False
    return True


def _encodings(data: bytes, values: list) -> list[str]:
    """The data set's character sets as pydicom decodes its values with."""
    declared = [i for i, value in enumerate(values) if value[0] == CHARACTER_SET]
    if not declared:
        return [default_encoding]
    at = declared[0]
    _, vr, start, length, depth = values[at]
    if len(declared) > 1 or depth or vr != b"CS":
        raise CannotTell  # in an item its values decode otherwise; other VRs read otherwise
    if any(value[4] for value in values[:at]):
        raise CannotTell  # items read before it are decoded in the default set
    raw = RawDataElement(
        BaseTag(CHARACTER_SET), "CS", length, data[start : start + length], start, False, True
    )
    return convert_encodings(convert_value("CS", raw) or None)


def _holds_identifier(
    data: bytes,
    tag: int,
    vr: str,
    start: int,
    length: int,
    depth: int,
    encodings: str | list[str],
    is_meta: bool,
    terms: PhraseIndex[Identifier],
) -> bool:
    """One value, decoded and checked as the parse's check does."""
    if tag in _BULK_TAGS or vr not in _READ_VRS:
        return False
    if vr == "UN":
        raise CannotTell  # pydicom may decode it in its dictionary VR
    if is_meta and not depth and tag in _CONSTANT_TAGS:
        return False
    raw = RawDataElement(BaseTag(tag), vr, length, data[start : start + length], start, False, True)
    value = convert_value(vr, raw, encodings)
    if vr == "UI":  # as pydicom's UID holds it
        value = [v.strip() for v in value] if isinstance(value, MultiValue) else value.strip()
    text = _text(tag, vr, value)
    if text is None:
        return False
    named, coded = _named(tag, vr), _coded(tag, vr)
    return _check(text, vr, named, coded, "", terms, "") is not None


def verify(
    data: bytes,
    identifiers: IdentifierSet,
    file_label: str,
    pixel_data: bytes | None = None,
    character_set: str | list[str] | None = None,
) -> list[Finding]:
    """High findings for every identifying value still readable in the output.

    A single pass over the raw bytes clears the common case; only a file
    that may hold a match is parsed, to confirm it element by element and
    say where it is.
    """
    terms = identifiers.terms()
    searched = _data_set(data)
    if searched is not None:
        header = _header_bytes(searched.data, pixel_data)
        escapes = b"\x1b" in header  # most outputs hold none, and are never walked
        walked = _walk(searched) if escapes else None
        escapes = escapes and _escape_in_text(searched.data, walked)
        texts = _readings(header, searched.syntax, character_set, escapes)
        if texts is not None and not _may_leak(texts, terms):
            return []
        if walked is None:  # not walked yet (or it could not be: then again, briefly)
            walked = _walk(searched)
        if _values_clear(searched, terms, walked):
            return []
    ds = pydicom.dcmread(BytesIO(data))
    findings: list[Finding] = []
    sources = [("", ds)]
    if getattr(ds, "file_meta", None) is not None:
        sources.append(("FileMeta.", ds.file_meta))
    for prefix, source in sources:
        for where, vr, named, coded, text in _texts(source, prefix):
            if where in _DEID_CONSTANTS or (not prefix and where.startswith(_OWN_MARKER_PLACES)):
                continue
            finding = _check(text, vr, named, coded, where, terms, file_label)
            if finding is not None:
                findings.append(finding)
    return findings


def _uid_form(text: str) -> bool:
    return raw_has_form("UI", text.encode("latin-1", "replace"))


def _check(
    text: str,
    vr: str,
    named: bool,
    coded: bool,
    where: str,
    terms: PhraseIndex[Identifier],
    file_label: str,
) -> Finding | None:
    """`named`: free text searched for names too (not codes, UIDs, PN or
    private creators: a vendor's block name is not a person). `coded`: a
    standard code string, where a name word that is a whole code is the
    vocabulary's, not the person's."""
    for hit in terms.find(text) if terms else ():
        ident = hit.label
        if vr == "UI" and ident.kind != "id" and _uid_form(text):
            continue  # digits and dots: only IDs can hide there (letters may spell a name)
        if coded and ident.kind == "name" and _a_code(text, hit.start, hit.end):
            continue
        if vr in _BINARY_VRS and hit.end - hit.start < _MIN_IN_BINARY:
            continue
        return Finding(
            rule="verify.residual-phi",
            severity=Severity.HIGH,
            message=f"{ident.kind} from {ident.where} still present in output",
            file=file_label,
            location=where,
            action="output withheld",
            evidence=ident.value,
        )
    if not named:
        return None
    spans = [find.Span(s, e, "name") for s, e in names.find(text)]
    if not spans:
        return None
    return Finding(
        rule="verify.residual-name",
        severity=Severity.HIGH,
        message="a person's name in the output's free text",
        file=file_label,
        location=where,
        action="output withheld",
        evidence=find.redact(text, spans),
    )
