"""Detectors for `deid scan`: each looks at one kind of risk in one file.

A detector is a function of a `ScanContext` that yields findings; the scan
runs them all and knows nothing of what they look for (detect-secrets'
shape). "Identifying" is judged against a profile: an attribute the profile
would change, still holding a value that is not already in de-identified
form (empty, a dummy, a keyed pseudonym, a 2.25 UID, dates marked as
modified), is a finding.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property

from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.uid import UID_dictionary

from deid.actions import DUMMY_BY_VR, RESTRICTED_ZIP3, TEXT_VRS
from deid.decide import FileDecider
from deid.pixels.settings import PRONE_MODALITIES, PixelSettings
from deid.risk.findings import Finding, Severity
from deid.risk.identifiers import PLACEHOLDER_WORDS, Identifier, IdentifierSet, kind_for
from deid.scrub import path_text, string_values
from deid.text import find
from deid.text.terms import PhraseIndex

Path_ = tuple[tuple[int, int], ...]

_DUMMIES = {str(v).upper() for v in DUMMY_BY_VR.values()} | {"ANONYMOUS"}
_TOKEN = re.compile(r"^(?:P?[A-Z2-7]{15,16}\^?|PSEUDO\^[A-Z2-7]{16})$")
_SEVERITY_BY_KIND = {
    "name": Severity.HIGH,
    "id": Severity.HIGH,
    "address": Severity.HIGH,
    "phone": Severity.HIGH,
    "email": Severity.HIGH,
    "date": Severity.MEDIUM,
    "institution": Severity.MEDIUM,
    "uid": Severity.MEDIUM,
    "time": Severity.MEDIUM,
    "text": Severity.MEDIUM,
}
# What a value is by its VR where its keyword says nothing: a StudyTime is
# a time, not "text".
_KIND_BY_VR = {"TM": "time"}
# Versions carry their software's build dates and part numbers
# ("453561454581__PRINTERS...[2010/06/30]"): about software, not a person, so
# only names, e-mail addresses and the file's own identifiers count there.
_VERSIONS = frozenset({"SoftwareVersions", "DeviceVersion", "ImplementationVersionName"})
_NOT_IN_VERSIONS = frozenset({"date", "number", "phone", "address"})
# Coded values look like numbers and dates by design (113100, 20230101).
_CODED = frozenset(
    {
        "CodeValue",
        "LongCodeValue",
        "URNCodeValue",
        "CodingSchemeDesignator",
        "CodingSchemeVersion",
        "ContextIdentifier",
        "ContextGroupVersion",
        "MappingResource",
        "ContextGroupLocalVersion",
        "MappingResourceUID",
    }
)
ENCAPSULATED_DOCUMENT = 0x00420011
_SOURCE_META = (
    "SourceApplicationEntityTitle",
    "SendingApplicationEntityTitle",
    "ReceivingApplicationEntityTitle",
    "PrivateInformation",
)


@dataclass
class ScanContext:
    label: str
    ds: Dataset
    decider: FileDecider
    identifiers: IdentifierSet
    elements: list[tuple[Dataset, DataElement, Path_, tuple[int, ...]]]
    pixels: PixelSettings = field(default_factory=PixelSettings)  # how document pages are read

    @cached_property
    def terms(self) -> PhraseIndex[Identifier]:
        return self.identifiers.terms()

    @property
    def marked_deidentified(self) -> bool:
        return str(self.ds.get("PatientIdentityRemoved", "")).upper() == "YES"

    @property
    def dates_marker(self) -> str:
        """MODIFIED (shifted: any date may be one) or REMOVED (reduced to
        the year: only 1 January can be one), when the file says so."""
        marker = str(self.ds.get("LongitudinalTemporalInformationModified", "")).upper()
        return marker if self.marked_deidentified else ""


def elements(ds: Dataset, path: Path_ = (), seq: tuple[int, ...] = ()) -> Iterator[tuple]:
    """Every element at every depth, with its path; undecodable ones skipped."""
    for tag in list(ds.keys()):
        try:
            elem = ds[tag]
        except Exception:  # noqa: BLE001 - a scan reports what it can read
            continue
        yield ds, elem, path, seq
        if elem.VR == "SQ":
            for i, item in enumerate(elem.value or []):
                yield from elements(item, path + ((int(tag), i),), seq + (int(tag),))


def _already_deidentified(ctx: ScanContext, elem: DataElement, value: str) -> bool:
    text = value.strip()
    if not text or text.upper() in _DUMMIES or text.lower() in PLACEHOLDER_WORDS:
        return True
    vr = elem.VR
    if vr == "UI":
        return text.startswith("2.25.") or text in UID_dictionary
    if vr in ("DA", "DT", "TM"):
        return ctx.dates_marker == "MODIFIED" or (
            ctx.dates_marker == "REMOVED" and _REDUCED.fullmatch(text) is not None
        )
    if ctx.marked_deidentified and _TOKEN.match(text):
        return True
    if vr == "AS" and _OVER_89.fullmatch(text):
        return False  # an age over 89 is shown as 090Y once de-identified
    return vr in ("AS", "DS", "IS") and ctx.marked_deidentified


# A date (time) as a run that reduces dates to the year writes it, and ages
# in years over 89, which Safe Harbor's runs write as 090Y.
_REDUCED = re.compile(r"\d{4}0101(000000(\.0+)?)?|0{2,6}(\.0+)?")
_OVER_89 = re.compile(r"(09[1-9]|[1-9]\d\d)Y")


def _zip3_written(action: str, value: str) -> bool:
    """An address the profile reduces to its ZIP's first three digits that
    is already what a run writes: three digits of an area Safe Harbor
    allows, or "000" (a restricted area's three digits are never written)."""
    text = value.strip()
    if action != "zip3" or len(text) != 3 or not text.isdigit():
        return False
    return text == "000" or text not in RESTRICTED_ZIP3


# What a profile's action does to a value, said in words ("would uid it").
_DOING = {
    "uid": "replace it with a new UID",
    "pseudonym": "replace it with a keyed pseudonym",
    "dummy": "replace it with a dummy",
    "replace": "replace it",
    "shift-date": "shift it",
    "year": "reduce it to its year",
    "birth-year": "reduce it to its year",
    "age-90": "cap it at 90",
    "age-band-5": "put it in a 5-year band",
    "zip3": "cut it to 3 digits",
    "document": "de-identify the document",
}


def _doing(action: str) -> str:
    if action.startswith("round:"):
        return "round it"
    return _DOING.get(action, f"{action} it")


def _kinds(found: list[find.Span]) -> str:
    return ", ".join(dict.fromkeys(s.kind for s in found))


def header_values(ctx: ScanContext) -> Iterator[Finding]:
    """Standard attributes the profile would change that still hold a value.

    Text the profile cleans is a finding only when it holds words the
    cleaner would remove; the evidence shows the text with those words
    replaced by their kind, at the attribute's tag path.
    """
    profile = ctx.decider.profile.meta.name
    for parent, elem, path, seq in ctx.elements:
        if elem.tag.is_private or elem.VR == "SQ" or elem.tag == ENCAPSULATED_DOCUMENT:
            continue  # a document is judged by what it says (encapsulated_document)
        decision = ctx.decider.decide(parent, elem, seq)
        if decision.action == "keep":
            continue
        keyword = keyword_for_tag(elem.tag) or ""
        # By keyword first: a PatientName written as TM is still a name.
        kind = (
            "uid"
            if elem.VR == "UI"
            else kind_for(keyword, elem.VR) or _KIND_BY_VR.get(elem.VR, "text")
        )
        cleaned = decision.action == "clean" and (elem.VR in TEXT_VRS or elem.VR == "CS")
        where = keyword or "attribute"
        for value in string_values(elem, text_only=True):
            if cleaned:
                found = find.spans(value, ctx.terms)
                if not found or _already_deidentified(ctx, elem, value):
                    continue
                message = f"{_kinds(found)} in {where} (profile {profile} would clean it)"
                evidence = find.redact(value, found)
            elif _already_deidentified(ctx, elem, value) or _zip3_written(decision.action, value):
                continue
            else:
                doing = _doing(decision.action)
                message = f"{kind} value in {where} (profile {profile} would {doing})"
                evidence = value
            yield Finding(
                rule=f"header.{kind}",
                severity=_SEVERITY_BY_KIND.get(kind, Severity.MEDIUM),
                message=message,
                file=ctx.label,
                location=path_text(path, int(elem.tag)),
                action=f"de-identify with `deid run --profile {profile}`",
                evidence=evidence,
            )
            break


def private_attributes(ctx: ScanContext) -> Iterator[Finding]:
    """Private blocks the profile would not keep, and identifiers inside them."""
    blocks: dict[tuple[str, int, int], tuple[int, str]] = {}
    for parent, elem, path, seq in ctx.elements:
        tag = elem.tag
        if not tag.is_private or tag.is_private_creator or elem.VR == "SQ":
            continue
        if ctx.decider.decide(parent, elem, seq).action == "keep":
            continue
        creator_elem = parent.get((tag.group << 16) | (tag.element >> 8))
        creator = str(creator_elem.value).strip() if creator_elem is not None else ""
        where = path_text(path, int(tag)).rpartition(".")[0]
        key = (where, tag.group, tag.element >> 8)
        blocks[key] = (blocks.get(key, (0, ""))[0] + 1, creator)
        for value in string_values(elem, text_only=True):
            found = find.spans(value, ctx.terms)
            own = [s for s in found if s.own]
            if own:
                rule, severity = "private.identifier", Severity.HIGH
                message = f"{own[0].kind} from {own[0].source} inside a private attribute"
            elif found:  # a name, date or number of identifying shape, as in kept text
                rule, severity = f"private.{found[0].kind}-pattern", Severity.MEDIUM
                message = f"text that looks like a {found[0].kind} inside a private attribute"
            else:
                continue
            yield Finding(
                rule=rule,
                severity=severity,
                message=message,
                file=ctx.label,
                location=path_text(path, int(tag)),
                action="remove private attributes (default of every shipped profile)",
                evidence=find.redact(value, own or found),
            )
            break
    # The creator string is free text a device or a person wrote (it can hold
    # a name): it is evidence, redacted unless --show-values, never part of
    # the message or location. The block is named by its slot, (gggg,bbxx).
    for (where, group, block), (count, creator) in sorted(blocks.items()):
        yield Finding(
            rule="private.block",
            severity=Severity.MEDIUM,
            message=f"{count} private attribute(s) in block ({group:04X},{block:02X}xx)"
            + ("" if creator else " without a private creator"),
            file=ctx.label,
            location=f"{where + '.' if where else ''}({group:04X},{block:02X}xx)",
            action="remove, or keep only attributes on the safe-private list",
            evidence=creator,
        )


def free_text(ctx: ScanContext) -> Iterator[Finding]:
    """Text the profile keeps, checked for the file's own identifiers and by
    the free-text detectors (names, dates, phones, e-mail, long numbers):
    the words `clean` would remove, reported at their tag path with the
    evidence redacted."""
    for parent, elem, path, seq in ctx.elements:
        if elem.VR not in TEXT_VRS and elem.VR not in ("UN", "CS"):
            continue
        coded = elem.VR == "CS" or elem.keyword in _CODED
        if ctx.decider.decide(parent, elem, seq).action != "keep":
            continue  # reported by header_values / private_attributes
        location = path_text(path, int(elem.tag))
        versions = elem.keyword in _VERSIONS
        for value in string_values(elem, text_only=True):
            found = find.spans(value, ctx.terms)
            if versions:
                found = [s for s in found if s.own or s.kind not in _NOT_IN_VERSIONS]
            own = [s for s in found if s.own]
            if own:
                rule, severity = f"text.{own[0].kind}", Severity.HIGH
                message = f"{own[0].kind} from {own[0].source} found in kept text"
                action = "clean or remove this attribute in your profile"
            elif coded or not found:
                continue  # codes are not free text: only the file's own values count
            else:
                rule, severity = f"text.{found[0].kind}-pattern", Severity.MEDIUM
                message = f"text that looks like a {found[0].kind} in a kept attribute"
                action = "review; clean or remove this attribute in your profile"
            evidence = find.redact(value, found)
            yield Finding(rule, severity, message, ctx.label, location, action, evidence)
            break


def markers(ctx: ScanContext, high_so_far: bool) -> Iterator[Finding]:
    ds = ctx.ds
    if ctx.marked_deidentified and high_so_far:
        yield Finding(
            rule="marker.identity-removed-false",
            severity=Severity.HIGH,
            message="PatientIdentityRemoved is YES but identifying values remain",
            file=ctx.label,
            location="PatientIdentityRemoved",
            action="re-run de-identification; do not trust the marker",
        )
    burned = str(ds.get("BurnedInAnnotation", "")).upper()
    modality = str(ds.get("Modality", "")).upper()
    if burned == "YES":
        yield Finding(
            rule="pixels.burned-in-declared",
            severity=Severity.HIGH,
            message="BurnedInAnnotation is YES: the pixel data carries text",
            file=ctx.label,
            location="BurnedInAnnotation",
            action="redact the pixel data before sharing",
        )
    elif not burned and modality in PRONE_MODALITIES:
        yield Finding(
            rule="pixels.burned-in-unknown",
            severity=Severity.MEDIUM,
            message=f"{modality} image without BurnedInAnnotation: text may be burned in",
            file=ctx.label,
            location="BurnedInAnnotation",
            action="check the pixel data for text",
        )
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        for keyword in _SOURCE_META:
            if keyword in meta and string_values(meta[keyword], text_only=True):
                yield Finding(
                    rule="meta.source-identity",
                    severity=Severity.MEDIUM,
                    message=f"file meta carries {keyword}",
                    file=ctx.label,
                    location=f"FileMeta.{keyword}",
                    action="rebuild the file meta (deid run does)",
                    evidence=", ".join(string_values(meta[keyword], text_only=True)),
                )


def content(ctx: ScanContext) -> Iterator[Finding]:
    ds = ctx.ds
    overlays = sorted(
        {t.group for t in ds.keys() if t.group & 0xFF01 == 0x6000 and t.element == 0x3000}
    )
    for group in overlays:
        yield Finding(
            rule="content.overlay",
            severity=Severity.MEDIUM,
            message="overlay bitmap present: it may draw text",
            file=ctx.label,
            location=f"({group:04X},3000)",
            action="remove overlays (every shipped profile does)",
        )
    if any(t.group & 0xFF01 == 0x5000 for t in ds.keys()):
        yield Finding(
            rule="content.curve",
            severity=Severity.LOW,
            message="curve data present (retired; may carry annotations)",
            file=ctx.label,
            location="(50xx,xxxx)",
            action="remove curves",
        )
    if "EncapsulatedDocument" in ds:
        yield from encapsulated_document(ctx)


def encapsulated_document(ctx: ScanContext) -> Iterator[Finding]:
    """The document's text, read as `deid run` reads it, searched for this
    file's values and identifying shapes: what it says, not that it exists,
    so a document deid de-identified is not reported as a risk."""
    from deid.documents import inspect_document  # PDFium and OCR: only when needed

    ds = ctx.ds
    data = ds.EncapsulatedDocument or b""
    length = ds.get("EncapsulatedDocumentLength")
    if isinstance(length, int) and 0 <= length <= len(data):
        data = data[:length]  # the value is padded to even length
    mime = str(ds.get("MIMETypeOfEncapsulatedDocument", "") or "")
    yield from inspect_document(mime, bytes(data), ctx.identifiers, ctx.pixels, ctx.label)


Detector = Callable[[ScanContext], Iterator[Finding]]
DETECTORS: tuple[Detector, ...] = (header_values, private_attributes, free_text, content)
