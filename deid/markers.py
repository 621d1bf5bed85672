"""The markers and file meta a de-identified file carries (PS3.15 E.1.1, PS3.10).

They say what was done, truthfully: an option is claimed only for the work
this file received.
"""

from __future__ import annotations

from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID

from deid import __version__
from deid.apply import FileContext
from deid.options import BASIC_PROFILE_CODE, Option
from deid.profiles import ResolvedProfile
from deid.scrub import tag_name

# Root for deid's implementation UID (2.25 + a fixed UUID-derived integer).
IMPLEMENTATION_CLASS_UID = "2.25.230436154926129391442396578136512497421"
IMPLEMENTATION_VERSION = "DEID_" + __version__.replace(".", "_")


def mark_deidentified(
    ds: Dataset,
    profile: ResolvedProfile,
    ctx: FileContext,
    pixels_cleaned: bool = False,
    visual_features_clean: bool = False,
) -> None:
    """Write the PS3.15 markers that say what was done, truthfully: the Clean
    Pixel Data option is claimed for the files whose pixels were cleaned, Clean
    Recognizable Visual Features for files known to show no face (a head
    series gets it, or not, after the series-level face check)."""
    ds.PatientIdentityRemoved = "YES"
    options = set(profile.options) - {Option.CLEAN_PIXEL_DATA, Option.CLEAN_VISUAL_FEATURES}
    if profile.meta.date_clean != "shift":
        # Dates reduced to the year keep no interval between them: the
        # option's own promise (temporal relationships kept) does not hold.
        options.discard(Option.RETAIN_MODIFIED_DATES)
    if pixels_cleaned:
        options.add(Option.CLEAN_PIXEL_DATA)
    if visual_features_clean and Option.CLEAN_VISUAL_FEATURES in profile.options:
        options.add(Option.CLEAN_VISUAL_FEATURES)
    options = sorted(options, key=lambda o: o.code)
    # LO holds 64 characters: one clause per value, never cut mid-word.
    clauses = [f"deid {__version__}: {profile.meta.name}"]
    if profile.meta.standard:
        clauses.append(f"based on {profile.meta.standard}")
    if profile.meta.pseudonymised:
        clauses.append("PSEUDONYMISED: re-linkable by the key holder")
    clauses += [f"option {o.cli_name}" for o in options]
    ds.DeidentificationMethod = clauses if len(clauses) > 1 else clauses[0]
    items = []
    for code, meaning in [BASIC_PROFILE_CODE] + [(o.code, o.meaning) for o in options]:
        item = Dataset()
        item.CodeValue = code
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        items.append(item)
    ds.DeidentificationMethodCodeSequence = Sequence(items)
    # What happened to this file's dates, whatever rule or option did it.
    if "modified" in ctx.dates:
        ds.LongitudinalTemporalInformationModified = "MODIFIED"
    elif "kept" in ctx.dates:
        ds.LongitudinalTemporalInformationModified = "UNMODIFIED"
    else:
        ds.LongitudinalTemporalInformationModified = "REMOVED"


def clean_file_meta(ds: Dataset, transfer_syntax: UID, ctx: FileContext) -> FileMetaDataset:
    """A new group 0002 with nothing carried over but the transfer syntax.

    Source/sending AE titles and private information in the original meta
    identify sites and systems, so none of it is copied.
    """
    old = getattr(ds, "file_meta", None)
    if old is not None:
        for tag in old.keys():  # by tag: nothing of the old meta need be decoded
            if keyword_for_tag(tag) not in (
                "FileMetaInformationGroupLength",
                "FileMetaInformationVersion",
                "MediaStorageSOPClassUID",
                "MediaStorageSOPInstanceUID",
                "TransferSyntaxUID",
                "ImplementationClassUID",
                "ImplementationVersionName",
            ):
                ctx.changes.append(
                    {
                        "path": f"FileMeta.{tag_name(int(tag))}",
                        "action": "remove",
                        "code": "X",
                        "why": "file meta rebuilt: source systems not carried over",
                    }
                )
    elements = [
        (0x00020001, "OB", b"\x00\x01"),
        (0x00020002, "UI", ds.SOPClassUID),
        (0x00020003, "UI", ds.SOPInstanceUID),
        (0x00020010, "UI", transfer_syntax),
        (0x00020012, "UI", IMPLEMENTATION_CLASS_UID),
        (0x00020013, "SH", IMPLEMENTATION_VERSION),
    ]
    return FileMetaDataset({e.tag: e for e in (DataElement(*args) for args in elements)})
