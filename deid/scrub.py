"""Apply a resolved profile to one data set, at every depth.

The walker asks one question of every element, `decide`, and applies the
answer with the pure functions in `actions`. It knows nothing of HIPAA or
GDPR: profiles carry that. One walk makes a plan (each element and its
decision); the plan is used twice: first to collect the file's own
identifying values (so a description can be cleaned of a name that appears
later in tag order), then to change the data set.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag, Tag
from pydicom.uid import UID, UID_dictionary

from deid import __version__, actions
from deid.actions import DATE_VRS, TEXT_VRS
from deid.options import BASIC_PROFILE_CODE, Option
from deid.profiles import Decision, ResolvedProfile
from deid.pseudonyms import Pseudonymizer
from deid.risk.identifiers import IdentifierSet, kind_for

# Root for deid's implementation UID (2.25 + a fixed UUID-derived integer).
IMPLEMENTATION_CLASS_UID = "2.25.230436154926129391442396578136512497421"
IMPLEMENTATION_VERSION = "DEID_" + __version__.replace(".", "_")

_GROUP_LENGTH = Decision("remove", "X", "group length: recomputed by the writer")
_NOT_LISTED = Decision("remove", "X", "not in Table E.1-1 and not on the allow-list")
_SEQUENCE = Decision("keep", "K", "sequence not in Table E.1-1: kept, every item filtered")
_UID = Decision("uid", "U", "UID not in Table E.1-1: registered UIDs kept, others mapped")
_PRIVATE_NOT_SAFE = Decision("remove", "X", "private attribute not on the safe-private list")
_SAFE_PRIVATE = Decision("keep", "K", "safe private attribute (PS3.15 Table E.3.10-1)")
_PATIENT_ID = 0x00100020
_NUMERIC_TEXT = re.compile(rb"^[\d.+\-eE\\ \x00]*$")

# Private attributes whose value is one of these VRs can never be "safe".
_FREE_TEXT_PRIVATE = TEXT_VRS | {"UT", "UC", "OB", "OW"}


# Both are asked for every changed element of every file, with the same few
# hundred tags and paths: built once per worker (bounded: private tags vary).
@lru_cache(maxsize=8192)
def tag_name(tag: int) -> str:
    return keyword_for_tag(tag) or f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


@lru_cache(maxsize=8192)
def path_text(path: tuple[tuple[int, int], ...], tag: int) -> str:
    parts = [f"{tag_name(t)}[{i}]" for t, i in path]
    return ".".join(parts + [tag_name(tag)])


@dataclass
class FileContext:
    """Everything the scrub of one file learns and decides."""

    patient_key: str
    patient_pseudonym: str
    date_offset: int
    reference_date: date
    identifiers: IdentifierSet
    cleaning: list[re.Pattern[str]] = field(default_factory=list)
    uid_map: dict[str, str] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    changes: list[dict[str, str]] = field(default_factory=list)
    dates: set[str] = field(default_factory=set)


@dataclass
class Plan:
    """Each element of a data set, in walk order, with the decision for it."""

    steps: list[tuple[Dataset, int, Any, Decision | None, tuple]]
    private_removed: int = 0


class Scrubber:
    def __init__(self, profile: ResolvedProfile, pseudonymizer: Pseudonymizer) -> None:
        self.profile = profile
        self.pseudo = pseudonymizer
        # Standard decisions depend only on tag, VR and enclosing sequences.
        self._cache: dict[tuple[int, str, tuple[int, ...]], Decision] = {}
        # Most profiles remove every private attribute: then they need not be
        # decoded, inspected or reported one by one.
        self.private_wholesale = (
            not profile.private
            and not profile.safe_private
            and profile.private_default.action != "keep"
        )

    # ------------------------------------------------------------------ decide

    def decide(self, ds: Dataset, elem: DataElement, seq_tags: tuple[int, ...]) -> Decision:
        tag = elem.tag
        if tag.is_private:
            return self._decide_private(ds, elem)
        return self.decide_standard(tag, elem.VR, seq_tags)

    def decide_standard(self, tag: BaseTag, vr: str, seq_tags: tuple[int, ...]) -> Decision:
        """Standard decisions depend on tag, VR and enclosing sequences only."""
        key = (int(tag), vr, seq_tags)
        decision = self._cache.get(key)
        if decision is None:
            decision = self._cache[key] = self._decide_standard(tag, vr, seq_tags)
        return decision

    def _decide_standard(self, tag: BaseTag, vr: str, seq_tags: tuple[int, ...]) -> Decision:
        if tag.element == 0:
            return _GROUP_LENGTH
        rule = self.profile.rule_for(int(tag), seq_tags + (int(tag),))
        if rule is not None:
            return rule
        if vr == "SQ":
            return _SEQUENCE
        if vr == "UI":
            return _UID
        if int(tag) in self.profile.keep_tags:
            return Decision("keep", "K", self.profile.keep_why)
        if tag.group in self.profile.keep_groups and vr not in TEXT_VRS | DATE_VRS | {"UN"}:
            return Decision("keep", "K", self.profile.keep_why)
        return _NOT_LISTED

    def _decide_private(self, ds: Dataset, elem: DataElement) -> Decision:
        tag = elem.tag
        if tag.is_private_creator:
            return Decision("private-creator", "", "private creator: kept only with its block")
        creator_elem = ds.get(Tag(tag.group, tag.element >> 8))
        creator = str(creator_elem.value).strip() if creator_elem is not None else ""
        low = tag.element & 0xFF
        rule = self.profile.private_rule(tag.group, low, creator)
        if rule is not None:
            return rule
        if self.profile.is_safe_private(tag.group, low, creator) and self._not_free_text(elem):
            return _SAFE_PRIVATE
        if self.profile.private_default.action in ("keep",):
            return self.profile.private_default
        return _PRIVATE_NOT_SAFE

    @staticmethod
    def _not_free_text(elem: DataElement) -> bool:
        if elem.VR == "UN":
            raw = elem.value if isinstance(elem.value, bytes) else b""
            return bool(_NUMERIC_TEXT.match(raw))
        return elem.VR not in _FREE_TEXT_PRIVATE

    # -------------------------------------------------------------------- walk

    def _walk(
        self, ds: Dataset, seq_tags: tuple[int, ...], path: tuple[tuple[int, int], ...]
    ) -> Iterator[tuple[Dataset, int, DataElement | None, Decision | None, tuple]]:
        """Yield (dataset, tag, element, decision, path) for every element.

        An element pydicom cannot decode comes back with element None: it
        cannot be inspected, so the caller removes it.
        """
        for tag in list(ds.keys()):
            decision, vr = None, ""
            if not tag.is_private:
                # Decide on the undecoded element: values kept as they are
                # need not be decoded at all (most of a header).
                vr = ds.get_item(tag).VR or _dictionary_vr(tag)
                decision = self.decide_standard(tag, vr, seq_tags)
                if decision.action == "keep" and vr not in _INSPECTED_WHEN_KEPT:
                    yield ds, int(tag), _Unread(tag, vr), decision, path
                    continue
            try:
                elem = ds[tag]
            except Exception:  # noqa: BLE001 - any decoding failure means "cannot inspect"
                yield ds, int(tag), None, None, path
                continue
            if decision is None or vr != elem.VR:  # private, or VR resolved on decoding
                decision = self.decide(ds, elem, seq_tags)
            yield ds, int(tag), elem, decision, path
            if elem.VR == "SQ" and decision.action not in ("remove", "empty") and elem.value:
                for i, item in enumerate(elem.value):
                    yield from self._walk(item, seq_tags + (int(tag),), path + ((int(tag), i),))

    def plan(self, ds: Dataset) -> Plan:
        """Walk once: every element with its decision, for collect and scrub.

        Private attributes that the profile removes wholesale go first,
        undecoded; nothing of them can survive or needs collecting.
        """
        removed = self._drop_all_private(ds) if self.private_wholesale else 0
        return Plan(list(self._walk(ds, (), ())), removed)

    # ----------------------------------------------------------------- collect

    def collect(self, plan: Plan) -> IdentifierSet:
        """The identifying values this file holds in attributes that change."""
        found = IdentifierSet()
        for _, tag, elem, decision, path in plan.steps:
            if elem is None or decision is None or elem.VR == "SQ":
                continue  # undecodable: removed, nothing survives
            if decision.action == "keep" and decision is not _SAFE_PRIVATE:
                continue
            values = string_values(elem)
            if not values:
                continue
            where = path_text(path, tag)
            if not elem.tag.is_private:
                kind = kind_for(keyword_for_tag(tag) or "", elem.VR)
                if kind:
                    for value in values:
                        found.add(kind, value, where)
            if elem.VR in TEXT_VRS or elem.VR == "UN":
                for value in values:
                    found.add_from_text(value, where)
        return found

    # ------------------------------------------------------------------- scrub

    def scrub(self, ds: Dataset, plan: Plan, ctx: FileContext) -> None:
        private_removed = plan.private_removed
        for parent, tag, elem, decision, path in plan.steps:
            if elem is None or decision is None:
                del parent[tag]
                self._note(ctx, path, tag, "remove", "X", "value cannot be decoded")
                continue
            if decision.action == "private-creator" or elem.VR == "SQ":
                if elem.VR == "SQ":
                    self._apply_sequence(parent, elem, decision, ctx, path)
                continue
            self._apply(parent, elem, decision, ctx, path)
        if private_removed:
            ctx.counts["remove"] += private_removed
            ctx.changes.append(
                {
                    "path": "(private attributes)",
                    "action": "remove",
                    "code": self.profile.private_default.code,
                    "why": f"{private_removed} private attributes removed: "
                    + self.profile.private_default.why,
                }
            )
        if not self.private_wholesale:
            _drop_orphan_private_creators(ds)

    def _drop_all_private(self, ds: Dataset) -> int:
        """Remove every private element at every depth, without decoding them."""
        removed = 0
        for tag in list(ds.keys()):
            if tag >> 16 & 1:  # odd group: private (CPU-bound loop, hence no tag.is_private)
                del ds[tag]
                removed += 1
            elif (ds.get_item(tag).VR or _dictionary_vr(tag)) == "SQ":
                try:
                    items = ds[tag].value or []
                except Exception:  # noqa: BLE001 - the walk reports undecodable elements
                    continue
                for item in items:
                    removed += self._drop_all_private(item)
        return removed

    def _note(
        self, ctx: FileContext, path: tuple, tag: int, action: str, code: str, why: str
    ) -> None:
        ctx.counts[action] += 1
        if action != "keep":
            ctx.changes.append(
                {"path": path_text(path, tag), "action": action, "code": code, "why": why}
            )

    def _apply_sequence(
        self, parent: Dataset, elem: DataElement, decision: Decision, ctx: FileContext, path: tuple
    ) -> None:
        if decision.action == "remove":
            del parent[elem.tag]
        elif decision.action == "empty":
            elem.value = Sequence()
        self._note(
            ctx,
            path,
            int(elem.tag),
            "keep" if decision.action not in ("remove", "empty") else decision.action,
            decision.code,
            decision.why,
        )

    def _apply(
        self, parent: Dataset, elem: DataElement, decision: Decision, ctx: FileContext, path: tuple
    ) -> None:
        action = decision.action
        vr = elem.VR
        if vr in ("DA", "DT"):
            self._account_date(ctx, action, vr)
        if action == "keep":
            self._note(ctx, path, int(elem.tag), "keep", decision.code, decision.why)
            return
        if action == "remove":
            del parent[elem.tag]
            self._note(ctx, path, int(elem.tag), "remove", decision.code, decision.why)
            return
        if action == "empty":
            elem.value = None if vr not in TEXT_VRS | {"CS", "DA", "DT", "TM", "AS", "UI"} else ""
            self._note(ctx, path, int(elem.tag), "empty", decision.code, decision.why)
            return
        new = self._transform(elem, action, decision, ctx)
        if new is _REMOVE:
            del parent[elem.tag]
            why = decision.why + " (no safe value)"
            self._note(ctx, path, int(elem.tag), "remove", decision.code, why)
            return
        elem.value = new
        self._note(ctx, path, int(elem.tag), action, decision.code, decision.why)

    @staticmethod
    def _account_date(ctx: FileContext, action: str, vr: str) -> None:
        if action == "keep":
            ctx.dates.add("kept")
        elif action in ("shift-date", "year", "birth-year", "clean"):
            ctx.dates.add("modified")
        else:
            ctx.dates.add("removed")

    def _transform(
        self, elem: DataElement, action: str, decision: Decision, ctx: FileContext
    ) -> object:
        vr = elem.VR
        if action == "uid":
            return _map_values(elem, lambda v: self._uid(v, ctx))
        if action == "dummy":
            if vr == "UI":
                return _map_values(elem, lambda v: self._uid(v, ctx))
            if elem.tag == _PATIENT_ID:
                # Any dummy is allowed; the patient's keyed pseudonym (also the
                # output folder) keeps patients apart without naming them.
                return ctx.patient_pseudonym
            return actions.dummy(vr)
        if action == "clean":
            return self._clean(elem, ctx)
        if action == "pseudonym":
            return _map_values(elem, lambda v: self._pseudonym(elem, v, ctx))
        if action == "shift-date":
            return self._dates(elem, "shift", ctx)
        if action == "year":
            return self._dates(elem, "year", ctx)
        if action == "birth-year":
            return _map_values(elem, lambda v: actions.birth_year(v, ctx.reference_date))
        if action == "age-90":
            return _map_values(elem, actions.age_cap_90)
        if action == "age-band-5":
            return _map_values(elem, actions.age_band_5)
        if action == "zip3":
            return _map_values(elem, actions.zip3)
        if action == "replace":
            return decision.value
        if action.startswith("round:"):
            step = float(action.split(":", 1)[1])
            return _map_values(elem, lambda v: actions.round_to(v, step))
        raise AssertionError(f"unhandled action {action}")  # profiles are validated

    def _dates(self, elem: DataElement, mode: str, ctx: FileContext) -> object:
        vr = elem.VR
        if vr == "DA":
            fn = (
                (lambda v: actions.shift_da(v, ctx.date_offset))
                if mode == "shift"
                else actions.year_da
            )
        elif vr == "DT":
            fn = (
                (lambda v: actions.shift_dt(v, ctx.date_offset))
                if mode == "shift"
                else actions.year_dt
            )
        elif vr == "TM":
            # Shifts are whole days, so a time stays paired with its date.
            # Reducing dates to the year drops the time of day as well.
            return elem.value if mode == "shift" else actions.dummy("TM")
        else:
            return _REMOVE
        return _map_values(elem, fn)

    def _clean(self, elem: DataElement, ctx: FileContext) -> object:
        vr = elem.VR
        if vr in ("DA", "DT", "TM"):
            return self._dates(elem, self.profile.meta.date_clean, ctx)
        if vr == "AS":
            return _map_values(elem, actions.age_cap_90)
        if vr == "AE":
            # Device identity kept as a stable, keyed alias of the AE title.
            return _map_values(elem, lambda v: self.pseudo.token("ae", v, 16))
        if vr == "UI":
            return _map_values(elem, lambda v: self._uid(v, ctx))
        if vr == "PN":
            return ""
        if vr in TEXT_VRS or vr == "CS":
            return _map_values(elem, lambda v: actions.clean_text(v, ctx.cleaning))
        if vr in ("DS", "IS", "FL", "FD", "SL", "SS", "UL", "US", "SV", "UV"):
            return elem.value
        return _REMOVE

    def _uid(self, value: str, ctx: FileContext) -> str:
        value = value.strip("\x00 ")
        if not value or value in UID_dictionary:
            return value
        new = ctx.uid_map.get(value)
        if new is None:
            new = ctx.uid_map[value] = self.pseudo.uid(value)
        return new

    def _pseudonym(self, elem: DataElement, value: str, ctx: FileContext) -> str:
        keyword = keyword_for_tag(elem.tag) or ""
        if keyword == "PatientName":
            return ctx.patient_pseudonym
        if keyword in ("PatientID", "OtherPatientIDs"):
            return self.pseudo.patient_token(value.strip())
        limit = 16 if elem.VR in ("SH", "AE", "CS") else 64
        if elem.VR == "PN":
            return "PSEUDO^" + self.pseudo.token("name", value, 16)
        return self.pseudo.token("id:" + keyword, value, min(limit, 24))


class _Remove:
    pass


@dataclass(frozen=True)
class _Unread:
    """A kept element left undecoded: only its tag and VR are looked at."""

    tag: BaseTag
    VR: str


# Kept elements that are still decoded: sequences are walked into, dates are
# counted for LongitudinalTemporalInformationModified.
_INSPECTED_WHEN_KEPT = frozenset({"SQ", "DA", "DT"})


def _dictionary_vr(tag: BaseTag) -> str:
    try:
        return dictionary_VR(tag)
    except KeyError:
        return "UN"


_REMOVE = _Remove()


def string_values(elem: DataElement, text_only: bool = False) -> list[str]:
    """An element's values as text. Binary values up to 64 KiB are read as
    Latin-1; with `text_only`, only when they are mostly printable."""
    value = elem.value
    if value is None:
        return []
    if elem.VR == "UN" or isinstance(value, bytes):
        if not isinstance(value, bytes) or len(value) > 65536:
            return []
        text = value.decode("latin-1").strip("\x00 ")
        if text_only and sum(c.isprintable() for c in text) < 0.9 * len(text):
            return []
        return [text] if text else []
    if isinstance(value, MultiValue | list | tuple):
        return [str(v) for v in value if v is not None and str(v).strip()]
    text = str(value)
    return [text] if text.strip() else []


_CACHED: list[tuple[object, Scrubber]] = []


def scrubber_for(owner: object, profile: ResolvedProfile, pseudonymizer: Pseudonymizer) -> Scrubber:
    """One scrubber per process and settings object, so its decision cache
    stays warm across the files a worker handles."""
    if not _CACHED or _CACHED[0][0] is not owner:
        _CACHED[:] = [(owner, Scrubber(profile, pseudonymizer))]
    return _CACHED[0][1]


def _map_values(elem: DataElement, fn: Callable[[str], str]) -> object:
    value = elem.value
    if value is None or value == "":
        return value
    if isinstance(value, MultiValue | list | tuple):
        return [fn(str(v)) for v in value]
    return fn(str(value))


def _drop_orphan_private_creators(ds: Dataset) -> None:
    """A creator whose block lost all its elements is removed with it."""
    for tag in ds.keys():
        # Only sequences are decoded; other values are left as read.
        if (ds.get_item(tag).VR or _dictionary_vr(tag)) == "SQ":
            for item in ds[tag].value or []:
                _drop_orphan_private_creators(item)
    creators = [t for t in ds.keys() if t.is_private and t.is_private_creator]
    if not creators:
        return
    used = {
        (t.group, t.element >> 8)
        for t in ds.keys()
        if t.is_private and not t.is_private_creator and t.element >= 0x1000
    }
    for t in creators:
        if (t.group, t.element) not in used:
            del ds[t]


def patient_key(ds: Dataset) -> str:
    """What makes two files the same patient: the ID, else name + birth date."""
    pid = str(ds.get("PatientID", "") or "").strip()
    if pid:
        return pid
    name = str(ds.get("PatientName", "") or "").strip()
    birth = str(ds.get("PatientBirthDate", "") or "").strip()
    if name:
        return f"name:{name}|{birth}"
    return "study:" + str(ds.get("StudyInstanceUID", "") or "")


def reference_date(ds: Dataset) -> date:
    """The date an age is counted to: the study, else the content, else 2000."""
    for keyword in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate"):
        parsed = actions.parse_da(str(ds.get(keyword, "") or ""))
        if parsed:
            return parsed
    return date(2000, 1, 1)


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
