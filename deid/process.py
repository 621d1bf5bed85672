"""One file: read -> decide -> examine pixels -> apply -> encode -> verify -> publish.

Each step is a function with one job over a small per-file state. Verification
runs on the encoded bytes before anything is published, so an output that still
holds an identifying value is withheld, never written. Files are independent,
so the batch (`deid.pipeline`) runs this in any number of workers.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.uid import UID, MediaStorageDirectoryStorage

from deid import documents
from deid.apply import FileContext
from deid.decide import decider_for
from deid.dicom_io import (
    drop_pixel_surplus,
    output_path,
    read,
    read_without_private,
    with_transfer_syntax,
)
from deid.errors import InputFileError
from deid.face.collect import relevant
from deid.face.geometry import SliceGeometry
from deid.markers import clean_file_meta, mark_deidentified
from deid.options import Option
from deid.part10 import encode
from deid.pixels import beside
from deid.pixels.examine import PixelOutcome, examine
from deid.pixels.policy import Verdict
from deid.pixels.redact import store as store_pixels
from deid.pixels.series import RawLayout, slice_number
from deid.repair import repair
from deid.report import thumbnails
from deid.results import FileResult, Status
from deid.risk.findings import Finding, Severity
from deid.risk.outside import surplus_finding
from deid.risk.verify import verify
from deid.safetext import without_values
from deid.scrub import Plan, collect, kept_class, patient_key, plan, reference_date, scrub
from deid.settings import Settings
from deid.writing import atomic_write, read_no_follow

DICOMDIR_REASON = (
    "DICOMDIR not copied: it indexes input paths and names patients; the files it "
    "lists are processed where found"
)


@dataclass
class FileState:
    """What the steps of one file hand to each other."""

    path: Path
    result: FileResult
    may_overwrite: bool = False
    done: bool = False  # a step decided the file's outcome
    ds: Dataset | None = None
    ts: UID | None = None
    plan: Plan | None = None
    ctx: FileContext | None = None
    pixel: PixelOutcome | None = None
    patient_id: str = ""  # the original, for the linkage table only
    private_cut: int = 0  # top-level private elements removed before parsing
    visual_clean: bool = False
    data: bytes = b""
    target: Path | None = None

    def finish(self, status: Status, reason: str = "") -> None:
        self.result.status, self.result.reason, self.done = status, reason, True


def read_input(state: FileState, settings: Settings) -> None:
    """Parse the file; a DICOMDIR is skipped, an object without UIDs refused.
    Private elements the profile removes wholesale are not parsed at all."""
    if decider_for(settings, settings.profile).private_wholesale:
        state.ds, state.private_cut = read_without_private(state.path)
    else:
        state.ds = read(state.path)
    ds = state.ds
    if _a_directory(ds):
        state.result.findings.append(
            Finding("input.dicomdir", Severity.INFO, "DICOMDIR skipped", file=state.result.input,
                    action="not copied")
        )
        state.finish(Status.SKIPPED, DICOMDIR_REASON)
        return
    for keyword in ("SOPClassUID", "SOPInstanceUID"):
        if not str(ds.get(keyword, "") or "").strip():
            raise InputFileError(f"no {keyword}: cannot make a valid output file")
    state.ts = with_transfer_syntax(ds)
    _drop_pixel_surplus(state)
    # What no decoder hands the text check is removed (deid.pixels.beside).
    state.result.findings += beside.findings(ds, state.result.input, remove=True)


def _a_directory(ds: Dataset) -> bool:
    """Directory records make a DICOMDIR, whatever class its data set names
    (one naming Raw Data Storage was written, input paths and two patients'
    names in its records). Without records, the data set's own class
    decides, then the meta's: an image whose meta named the DICOMDIR class
    was skipped, its pixels lost (the output's meta is rebuilt from the
    data set)."""
    if "DirectoryRecordSequence" in ds:
        return True  # whatever class it names: its records index paths and patients
    own = str(ds.get("SOPClassUID", "") or "").strip("\x00 ")
    if own:
        return own == MediaStorageDirectoryStorage
    meta = getattr(ds, "file_meta", None)
    return meta is not None and meta.get("MediaStorageSOPClassUID") == MediaStorageDirectoryStorage


def _drop_pixel_surplus(state: FileState) -> None:
    """Bytes native pixel data holds after its last frame are no part of the
    image: the examination read the wrong picture from them (a frame's worth
    hid the real frame's burned-in name), and they went to the output as
    read, whatever they held. They are removed, and the report says so."""
    surplus = drop_pixel_surplus(state.ds)
    if surplus:
        state.result.findings.append(
            surplus_finding(
                surplus, state.result.input, Severity.LOW,
                "removed from the output; if the image looks cut, check those attributes",
            )
        )  # fmt: skip


def decide(state: FileState, settings: Settings) -> None:
    """Every element's decision, and the file's own identifying values."""
    ds = state.ds
    pseudo = settings.pseudonymizer
    state.plan = plan(decider_for(settings, settings.profile), ds, state.private_cut)
    if state.plan.iod is None:
        state.result.findings.append(
            Finding(
                "standard.unknown-sop-class", Severity.INFO,
                "the SOP class is not in the standard's IOD tables: attributes were "
                "decided without their types (safe defaults: D over Z over X)",
                file=state.result.input, location="SOPClassUID",
                action="check the output's validity with the vendor's definition",
                evidence=str(ds.get("SOPClassUID", "") or ""),
            )
        )  # fmt: skip
    identifiers = collect(state.plan.steps)
    key = patient_key(ds)
    state.ctx = FileContext(
        patient_key=key,
        patient_pseudonym=pseudo.patient_token(key),
        date_offset=pseudo.date_offset_days(key),
        reference_date=reference_date(ds),
        identifiers=identifiers,
        pseudonymizer=pseudo,
        date_clean=settings.profile.meta.date_clean,
        cleaning=identifiers.cleaning_patterns(),
        own_class=kept_class(ds, state.plan.steps, identifiers),
    )
    _note_class_mapped(state)
    state.patient_id = str(ds.get("PatientID", "") or "").strip()
    state.result.issuer = str(ds.get("IssuerOfPatientID", "") or "").strip()


def _note_class_mapped(state: FileState) -> None:
    """A private SOP class that could not be kept is mapped like an instance
    UID: the output is then of a class no viewer knows, which its user must
    hear of (the value itself is not repeated: it held what was found)."""
    if state.ctx.own_class:  # kept (every registered class is): nothing to say
        return
    state.result.findings.append(
        Finding(
            "header.sop-class-mapped", Severity.MEDIUM,
            "the private SOP class held one of the file's identifying values, an instance "
            "UID or no UID at all: it was mapped like an instance UID, so no viewer "
            "knows the output's class",
            file=state.result.input, location="SOPClassUID",
            action="check the input's SOP class with its vendor",
        )
    )  # fmt: skip


def deidentify_document(state: FileState, settings: Settings) -> None:
    """An encapsulated PDF or CDA document is de-identified itself (rendered
    and redacted, or cleaned), or the file is withheld: never zero bytes."""
    ds = state.ds
    if "EncapsulatedDocument" not in ds:
        return
    data = bytes(ds.EncapsulatedDocument or b"")
    length = ds.get("EncapsulatedDocumentLength")
    if isinstance(length, int) and 0 <= length <= len(data):
        data = data[:length]
    mime = str(ds.get("MIMETypeOfEncapsulatedDocument", "") or "")
    outcome = documents.deidentify_document(
        mime, data, state.ctx.identifiers, settings.pixels, state.result.input,
        _document_dates(settings, state.ctx.date_offset),
    )
    state.result.findings.extend(outcome.findings)
    if outcome.data is None:
        state.finish(Status.WITHHELD, f"output withheld: {outcome.description}")
        return
    ds.EncapsulatedDocument = outcome.data
    ds.EncapsulatedDocumentLength = len(outcome.data)
    ds.BurnedInAnnotation = "NO"  # its pages were read, redacted and read again


def _document_dates(settings: Settings, offset: int) -> documents.DateHandling:
    """A document's structured dates follow the profile's date options."""
    options = settings.profile.options
    if Option.RETAIN_FULL_DATES in options:
        return documents.DateHandling(documents.DateMode.KEEP)
    if Option.RETAIN_MODIFIED_DATES in options and settings.profile.meta.date_clean == "shift":
        return documents.DateHandling.shift(offset)
    return documents.DateHandling()  # removed (also where dates are reduced to the year)


def examine_pixels(state: FileState, settings: Settings) -> None:
    """Burned-in text, judged on the original header (modality, markers)."""
    state.pixel = examine(state.ds, state.ctx.identifiers, settings.pixels, state.result.input)
    state.result.findings.extend(state.pixel.findings)


def note_pixel_series(state: FileState, settings: Settings) -> None:
    """A slice of a series examined by samples: where it sits in its series
    (also once examined as a sample: a resumed run picks the same samples),
    and where its raw pixels are in the output as verified (a repair may
    have encoded it again), for the series step."""
    if not state.pixel.slice_of_series or state.pixel.verdict not in (
        Verdict.SERIES,
        Verdict.EXAMINE,
    ):
        return
    state.result.summary["slice"] = str(slice_number(state.ds))
    if state.pixel.verdict is Verdict.SERIES:
        state.result.pixel_layout = RawLayout.in_encoded(state.ds, state.data, state.ts)


def note_face(state: FileState, settings: Settings) -> None:
    """CT/MR/PT slices wait for their series to be judged from its images.
    Until then: YES where the header names the head (the safe answer, which
    most such series keep), NO elsewhere (the answer most other series keep);
    a series judged otherwise is written again."""
    ds = state.ds
    face = settings.face
    if not face.enabled or not relevant(ds, face.thresholds):
        return
    state.result.geometry = SliceGeometry.from_dataset(ds, str(state.path))
    state.visual_clean = not face.thresholds.names_head(state.result.geometry.words)
    ds.RecognizableVisualFeatures = "NO" if state.visual_clean else "YES"


def apply_profile(state: FileState, settings: Settings) -> None:
    """Change the header as decided; store redacted pixels."""
    ds, pixel = state.ds, state.pixel
    scrub(ds, state.plan, state.ctx, decider_for(settings, settings.profile).private_wholesale)
    if pixel.pixels is not None:
        state.ts, note = store_pixels(ds, pixel.pixels, state.ts)
        if note:
            state.result.findings.append(
                Finding("pixels.transfer-syntax", Severity.INFO, note, file=state.result.input,
                        location="TransferSyntaxUID", action="re-encoded")
            )


def mark(state: FileState, settings: Settings) -> None:
    """The markers that say truthfully what was done, and a new file meta."""
    ds, pixel = state.ds, state.pixel
    pixels = settings.pixels
    cleaned = pixel.examined and pixel.complete and pixels.redacts and not pixels.unverified
    if cleaned:
        ds.BurnedInAnnotation = "NO"  # examined, every non-marker region redacted, re-checked
    elif pixel.text_left:
        ds.BurnedInAnnotation = "YES"  # seen and left (--redact none): the output says so
    mark_deidentified(
        ds, settings.profile, state.ctx, pixels_cleaned=cleaned,
        visual_features_clean=state.visual_clean,
    )
    ds.file_meta = clean_file_meta(ds, state.ts, state.ctx)


def encode_output(state: FileState, settings: Settings) -> None:
    """The output's bytes, its path, and what the report says about it."""
    ds, ctx, result = state.ds, state.ctx, state.result
    state.data = encode(ds)
    study = str(ds.get("StudyInstanceUID", "") or "") or "no-study"
    series = str(ds.get("SeriesInstanceUID", "") or "") or "no-series"
    state.target = output_path(
        settings.output, ctx.patient_pseudonym, study, series, str(ds.SOPInstanceUID)
    )
    result.output = str(state.target.relative_to(settings.output))
    result.changes, result.counts, result.uid_map = ctx.changes, dict(ctx.counts), ctx.uid_map
    result.patient = (state.patient_id, ctx.patient_pseudonym) if state.patient_id else None
    result.summary = {
        "patient": ctx.patient_pseudonym,
        "study": study,
        "series": series,
        "modality": str(ds.get("Modality", "") or ""),
        "transfer_syntax": str(state.ts),
        "pixels": state.pixel.decision,
    }


def verify_output(state: FileState, settings: Settings) -> None:
    """Search the encoded bytes again; anything identifying left withholds it."""
    if state.pixel.residual:
        _withhold(state, "burned-in identifying text still readable after redaction")
        return
    ds = state.ds
    leaks = verify(state.data, state.ctx.identifiers, state.result.input, *_verified_as(ds))
    if leaks:
        leaks = _repair(state, leaks, settings)
    if leaks:
        state.result.findings.extend(leaks)
        _withhold(state, f"{len(leaks)} identifying value(s) still present after scrubbing")


def _withhold(state: FileState, why: str) -> None:
    """Values read from an output that is withheld are not known clean (one
    may be what withheld it): the report keeps what deid made of it only
    (pseudonyms, its own decisions)."""
    for unverified in ("modality", "transfer_syntax"):
        state.result.summary.pop(unverified, None)
    state.finish(Status.WITHHELD, f"output withheld: {why}")


def end_dry_run(state: FileState, settings: Settings) -> None:
    """A dry run stops here: everything is decided and checked, nothing written."""
    if settings.dry_run:
        state.finish(Status.DRY_RUN)


def picture_redactions(state: FileState, settings: Settings) -> None:
    """Thumbnails of the redacted areas for report.html, cut from the pixels
    about to be written (a file withheld or not written gets none). A picture
    for the report never costs the file its output."""
    pixel = state.pixel
    if pixel.pixels is None or not settings.reporting.thumbnails:
        return
    try:
        state.result.thumbnails = thumbnails.make(
            state.ds, pixel.pixels, pixel.masks, state.result.output
        )
    except Exception as exc:  # noqa: BLE001 - the output is fine; only its picture failed
        state.result.findings.append(
            Finding("report.thumbnail", Severity.INFO,
                    f"no thumbnail of the redacted areas ({type(exc).__name__})",
                    file=state.result.input, location="PixelData", action="review by eye")
        )


def _verified_as(ds: Dataset) -> tuple[bytes | None, str | list[str] | None]:
    """What verification needs of the encoded data set to search its bytes:
    the pixel data value it skips, the character set its text is in."""
    return ds.get("PixelData"), ds.get("SpecificCharacterSet")


def _repair(state: FileState, leaks: list[Finding], settings: Settings) -> list[Finding]:
    """Leaks only in kept text: clean those attributes, encode and verify
    again. What is left is withheld as before."""
    ds, ctx = state.ds, state.ctx
    notes = repair(ds, leaks, ctx.cleaning, state.plan.iod, state.result.input)
    if notes is None:
        return leaks
    encode_output(state, settings)
    left = verify(state.data, ctx.identifiers, state.result.input, *_verified_as(ds))
    if not left:
        state.result.findings.extend(notes)
    return left


def publish(state: FileState, settings: Settings) -> None:
    """Write atomically. A resumed file replaces its own earlier output; any
    other input must not replace one, even written by another worker at the
    same moment."""
    try:
        atomic_write(
            state.target, state.data, exclusive=not state.may_overwrite, root=settings.output
        )
    except FileExistsError:
        if read_no_follow(state.target) != state.data:
            raise InputFileError(
                f"another input already produced {state.result.output} with different "
                "content (duplicate SOP Instance UID)"
            ) from None
    state.result.output_size = len(state.data)
    state.finish(Status.WRITTEN)


# What each step was doing, for a failure's reason: a person reads "while
# encoding the output", not the name of a Python exception.
DOING = {
    "read_input": "reading the file",
    "decide": "deciding what to change",
    "deidentify_document": "de-identifying the encapsulated document",
    "examine_pixels": "examining the pixel data",
    "note_face": "reading the image geometry",
    "apply_profile": "changing the header",
    "mark": "writing the de-identification markers",
    "encode_output": "encoding the output",
    "verify_output": "verifying the output",
    "note_pixel_series": "locating the pixel data",
    "end_dry_run": "ending the dry run",
    "picture_redactions": "picturing the redactions",
    "publish": "writing the output",
}

STEPS: tuple[Callable[[FileState, Settings], None], ...] = (
    read_input,
    decide,
    deidentify_document,
    examine_pixels,
    note_face,
    apply_profile,
    mark,
    encode_output,
    verify_output,
    note_pixel_series,
    end_dry_run,
    picture_redactions,
    publish,
)


def warm(settings: object = None) -> None:
    """Load what the first file of every worker would load: the standard's
    IOD tables (~0.1-0.2 s and ~50 MB each) and the name lexicon. Loaded
    before local workers fork, they are loaded once and shared. (The code
    meanings, deid.codes, are not: 0.85 s on every run, pre-commit checks of
    one file included, for what only a verification that parses an output
    with codes asks.)"""
    from deid import standard
    from deid.text.lexicon import lexicon

    standard.load()
    lexicon()


def process_file(path: Path, settings: Settings, may_overwrite: bool = False) -> FileResult:
    """Run the steps; any failure is this file's reason, and the batch goes on."""
    label = str(path)
    try:
        st = path.stat()
    except OSError as exc:
        return FileResult(label, Status.FAILED, reason=f"cannot read: {exc.strerror}")
    result = FileResult(label, Status.FAILED, size=st.st_size, mtime_ns=st.st_mtime_ns)
    state = FileState(path, result, may_overwrite)
    step = STEPS[0]
    try:
        with warnings.catch_warnings():
            # pydicom warns on odd values as they are decoded; the report says
            # what deid did about them, the terminal stays readable.
            warnings.simplefilter("ignore")
            for step in STEPS:
                step(state, settings)
                if state.done:
                    break
    except InputFileError as exc:
        status = Status.NOT_DICOM if "not a DICOM file" in str(exc) else Status.FAILED
        state.finish(status, without_values(str(exc)).removeprefix(f"{path}: "))
    except OSError as exc:
        state.finish(Status.FAILED, f"{DOING[step.__name__]}: {exc.strerror or exc}")
    except MemoryError:
        raise  # the executor reports it against the worker's memory budget
    except Exception as exc:  # noqa: BLE001 - a batch survives any bad file
        state.finish(Status.FAILED, failure_reason(DOING[step.__name__], exc))
    return result


_WITH_TAG = re.compile(r"With tag (\d+|\([0-9A-F]{4},[0-9A-F]{4}\)) got exception: ")


def failure_reason(doing: str, exc: Exception) -> str:
    """One line a person can act on: what deid was doing, and what in the file
    it could not handle (the element pydicom names, not the value it quotes:
    that may be the patient's), never a bare Python exception. pydicom's
    element messages carry the traceback and the element's repr after the
    first line: only that line is kept."""
    first = str(exc).split("Traceback (most recent call last)")[0].split("\nfor data_element")[0]
    detail = without_values(" ".join(first.split()))[:200]
    tagged = _WITH_TAG.match(detail)
    if tagged:
        number = tagged.group(1)
        if number.isdigit():
            tag = int(number)
            number = f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
        detail = f"{number}: {detail[tagged.end() :]}"
    if not detail:
        detail = "the file holds a value deid cannot handle"
    return f"cannot process: failed while {doing}: {detail}"
