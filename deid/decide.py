"""Deciding: what happens to one element, and why. Pure and cached.

A decision depends only on the tag, its VR, where it sits (the enclosing
sequences), the file's IOD (its type there) and the resolved profile; for private attributes
also on the block's creator. Nothing here changes a data set, so `deid scan`
asks the same questions as `deid run` without a key or a scrubber.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag, Tag

from deid import standard
from deid.actions import DATE_VRS, TEXT_VRS
from deid.forms import FORMS, NUMERIC_TEXT, binary_without_words, numeric_text, value_has_form
from deid.options import Option
from deid.profiles import Decision, ResolvedProfile
from deid.standard import DIRECTORY_KEYS, IodTypes

GROUP_LENGTH = Decision("remove", "X", "group length: recomputed by the writer")
NOT_LISTED = Decision(
    "remove", "X", "not in Table E.1-1, free text or a date, and not required by the IOD here",
    listed=False,
)
KEPT_BY_VR = Decision("keep", "K", "not in Table E.1-1; its VR cannot carry free identity")
SEQUENCE = Decision("keep", "K", "sequence not in Table E.1-1: kept, every item filtered")
UID = Decision("uid", "U", "UID not in Table E.1-1: registered UIDs kept, others mapped")
PRIVATE_NOT_SAFE = Decision("remove", "X", "private attribute not on the safe-private list")
SAFE_PRIVATE = Decision("keep", "K", "safe private attribute (PS3.15 Table E.3.10-1)")
SAFE_PRIVATE_AS_TEXT = Decision(
    "remove", "X", "safe private attribute whose value may hold text: removed"
)
PRIVATE_CREATOR = Decision("private-creator", "", "private creator: kept only with its block")
# Pixel data in an item (a picture of a name inside a Source Image Sequence
# item went out unexamined): the standard puts one only in an icon, which
# the profiles remove; nothing examines it for burned-in text.
NESTED_PIXELS = Decision(
    "remove", "X", "pixel data inside a sequence item: never examined for burned-in text"
)
_PIXEL_DATA = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})

# Private attributes whose value is one of these VRs can never be "safe".
_FREE_TEXT_PRIVATE = TEXT_VRS | {"UT", "UC", "OB", "OW"}


def dictionary_vr(tag: int) -> str:
    """The data dictionary's VR, or UN for tags it does not know. Asked for
    every standard element of every file (a few hundred tags): cached, by
    the plain integer (a BaseTag key compares in Python)."""
    return _dictionary_vr(int(tag))


@lru_cache(maxsize=8192)
def _dictionary_vr(tag: int) -> str:
    try:
        return dictionary_VR(tag)
    except KeyError:
        return "UN"


# VRs that cannot carry free identity: numbers, codes, tags, binary data
# (pixel and waveform samples). Kept when no rule names them.
NON_IDENTIFYING_VRS = frozenset(
    {"CS", "DS", "IS", "FL", "FD", "SL", "SS", "UL", "US", "SV", "UV", "AT",
     "OB", "OD", "OF", "OL", "OV", "OW"}
)
# How attributes no rule names are decided, for `deid profiles show`.
UNLISTED_RULES = (
    "group length (gggg,0000): removed, the writer recomputes it",
    "sequence: kept, every item's attributes decided on their own",
    "UID: registered UIDs kept, others mapped to keyed 2.25 UIDs",
    "named keep ([keep] keywords of the profile): kept",
    "numbers, codes (CS), tags (AT), binary data (OB/OW/...): kept, their VR cannot "
    "carry free identity",
    "dates/times: as the date options say (kept, or shifted/reduced); otherwise a dummy "
    "where the IOD requires a value (Type 1), empty where it requires presence (Type 2), "
    "removed where optional",
    "text (LO/SH/LT/ST/UT/UC/PN/AE/UR/AS): cleaned of identifying words where the IOD "
    "requires it (Type 1/2), removed where optional",
    "compound codes (X/Z, X/D, Z/D, X/Z/D): by the attribute's type at its place in the "
    "file's IOD: 1 -> D, 2 -> Z, 3 -> X; reference sequences (X/Z/U*) kept, UIDs mapped",
    "any removal or emptying of an attribute the IOD requires becomes a dummy (Type 1) "
    "or empty (Type 2); unknown SOP classes keep the safe default (D over Z over X)",
)
_NEED = {"1": "value", "1C": "value", "2": "present", "2C": "present"}
# Where a compound code allows D, the patient ID gets the patient's keyed
# pseudonym even when Z would do: it keeps patients apart (and longitudinal
# studies together) without naming anyone, and Z permits a dummy value.
_PATIENT_ID = 0x00100020
ENCAPSULATED_DOCUMENT = 0x00420011
# Table E.1-1 says D: a dummy would destroy the document and leave a file
# whose content is a few zero bytes. The document is de-identified instead.
DOCUMENT = Decision(
    "document", "D", "PS3.15 Table E.1-1 (D): the document de-identified, not replaced",
    need="value",
)
_OVERLAY_DATA = 0x60003000


def _is_overlay(tag: BaseTag) -> bool:
    return 0x6000 <= tag.group <= 0x601E and not tag.group & 1
_UNKNOWN_IOD = "; SOP class not in the standard's IOD tables: safe default"


def at_top_level(tag: int, rule: Decision, fitted: Decision | None = None) -> Decision:
    """A top-level attribute's rule as every file has it, whatever its IOD
    (`fitted`: the rule fitted to the file's IOD; `deid profiles show` has
    no file and shows the rule). Shared by runs and the listing, so the
    listing says what a run does."""
    if tag == ENCAPSULATED_DOCUMENT and rule.action != "keep":
        return DOCUMENT
    decision = fitted or rule
    if decision.action == "empty" and tag in DIRECTORY_KEYS:
        why = f"{decision.why}; a dummy, not empty: DICOMDIR records need it (PS3.3 F.5)"
        return replace(decision, action="dummy", why=why)
    return decision


class Decider:
    """The profile's answer for every element, cached per (IOD, tag, VR, place).

    One per worker and settings object: the few hundred distinct tags and
    places of a batch are decided once. Compound codes and removals are
    resolved by the attribute's type at its place in the file's IOD
    (PS3.15 E.1.1: Type 1 -> D, Type 2 -> Z, Type 3 -> X), so an output never
    lacks an attribute its IOD requires and its input had.
    """

    def __init__(self, profile: ResolvedProfile) -> None:
        self.profile = profile
        self._cache: dict[tuple[str, int, str, tuple[int, ...]], Decision] = {}
        # Most profiles remove every private attribute: then they need not be
        # decoded, inspected or reported one by one.
        self.private_wholesale = (
            not profile.private
            and not profile.safe_private
            and profile.private_default.action != "keep"
        )

    def bind(self, ds: Dataset) -> FileDecider:
        """This decider for one file, whose SOP class names its IOD."""
        return FileDecider(self, standard.for_sop_class(str(ds.get("SOPClassUID", "") or "")))

    def standard(
        self, tag: BaseTag, vr: str, seq_tags: tuple[int, ...], iod: IodTypes | None = None
    ) -> Decision:
        key = (iod.name if iod else "", int(tag), vr, seq_tags)
        decision = self._cache.get(key)
        if decision is None:
            decision = self._cache[key] = self._standard(tag, vr, seq_tags, iod)
        return decision

    def _standard(
        self, tag: BaseTag, vr: str, seq_tags: tuple[int, ...], iod: IodTypes | None
    ) -> Decision:
        if tag.element == 0:
            return GROUP_LENGTH
        if seq_tags and int(tag) in _PIXEL_DATA:
            return NESTED_PIXELS
        if _is_overlay(tag) and not seq_tags:
            overlay = self._overlay()
            if overlay is not None:
                return overlay
        kind = iod.type_at(seq_tags, int(tag)) if iod else None
        rule = self.profile.rule_for(int(tag), seq_tags + (int(tag),))
        if rule is not None:
            if int(tag) == _PATIENT_ID and rule.action == "dummy":
                return rule
            fitted = conform(rule, kind, vr, iod is not None)
            return fitted if seq_tags else at_top_level(int(tag), rule, fitted)
        return self._unlisted(tag, vr, kind, iod)

    def _overlay(self) -> Decision | None:
        """An overlay goes as a whole when its data goes: an overlay plane
        without Overlay Data is invalid, and its bitmap cannot be cleaned."""
        rule = self.profile.rule_for(_OVERLAY_DATA, (_OVERLAY_DATA,))
        if rule is None or rule.action == "keep":
            return None
        return Decision(
            "remove", rule.code, f"overlay removed as a whole: Overlay Data is {rule.code} "
            "(an overlay cannot be cleaned, nor kept without its data)"
        )

    def _unlisted(self, tag: BaseTag, vr: str, kind: str | None, iod: IodTypes | None) -> Decision:
        """An attribute no rule names: kept when its VR cannot carry identity;
        text and dates only where the IOD requires them, cleaned."""
        if int(tag) in self.profile.keep_tags:
            return Decision("keep", "K", self.profile.keep_why)
        if vr == "SQ":
            return SEQUENCE
        if vr == "UI":
            return UID
        if vr in NON_IDENTIFYING_VRS:
            return KEPT_BY_VR
        place = f"Type {kind} in {iod.name}" if kind and iod else ""
        if vr in DATE_VRS:
            return self._unlisted_date(kind, place)
        if vr in TEXT_VRS | {"AS"} and kind in _NEED:
            why = f"not in Table E.1-1; {place}: kept, cleaned of identifying words"
            return Decision("clean", "C", why, need=_NEED[kind], listed=False)
        return NOT_LISTED

    def _unlisted_date(self, kind: str | None, place: str) -> Decision:
        """Dates no rule names follow the date options as the table's do."""
        options = self.profile.options
        if Option.RETAIN_FULL_DATES in options:
            return Decision("keep", "K", "date not in Table E.1-1: kept (full dates option)")
        need = _NEED.get(kind or "", "")
        if Option.RETAIN_MODIFIED_DATES in options:
            return Decision("clean", "C", "date not in Table E.1-1: modified (dates option)",
                            need=need)
        why = f"date not in Table E.1-1; {place or 'optional here'}"
        if need == "value":
            return Decision("dummy", "D", why + ": dummy", need=need)
        if need == "present":
            return Decision("empty", "Z", why + ": emptied", need=need)
        return Decision("remove", "X", why + ": removed")

    def private(self, ds: Dataset, elem: DataElement) -> Decision:
        tag = elem.tag
        if tag.is_private_creator:
            return PRIVATE_CREATOR
        creator_elem = ds.get(Tag(tag.group, tag.element >> 8))
        creator = str(creator_elem.value).strip() if creator_elem is not None else ""
        low = tag.element & 0xFF
        rule = self.profile.private_rule(tag.group, low, creator)
        if rule is not None:
            return rule
        listed = self.profile.is_safe_private(tag.group, low, creator)
        if listed and _not_free_text(ds, elem):
            return SAFE_PRIVATE
        if self.profile.private_default.action == "keep":
            return self.profile.private_default
        return SAFE_PRIVATE_AS_TEXT if listed else PRIVATE_NOT_SAFE


@dataclass(frozen=True)
class FileDecider:
    """A decider bound to one file's IOD: what the walker and the scan ask."""

    decider: Decider
    iod: IodTypes | None

    @property
    def profile(self) -> ResolvedProfile:
        return self.decider.profile

    @property
    def private_wholesale(self) -> bool:
        return self.decider.private_wholesale

    def standard(self, tag: BaseTag, vr: str, seq_tags: tuple[int, ...]) -> Decision:
        return self.decider.standard(tag, vr, seq_tags, self.iod)

    def decide(self, ds: Dataset, elem: DataElement, seq_tags: tuple[int, ...]) -> Decision:
        if elem.tag.is_private:
            return self.decider.private(ds, elem)
        return self.standard(elem.tag, elem.VR, seq_tags)


def conform(rule: Decision, kind: str | None, vr: str, iod_known: bool) -> Decision:
    """A rule's action as the IOD allows it at this place (PS3.15 E.1.1).

    Compound codes choose by type: 1 -> D (U for UIDs), 2 -> Z, 3 -> X. A plain
    removal or emptying of an attribute the IOD requires becomes the least
    change that keeps the object valid, never the original value.
    """
    need = _NEED.get(kind or "", "")
    if "/" in rule.code:
        return _compound(rule, kind, vr, iod_known, need)
    action, why = rule.action, rule.why
    if action == "remove" and need == "value":
        return replace(rule, action="dummy", why=f"{why}; Type {kind} here: dummy", need=need)
    if action == "remove" and need == "present":
        return replace(rule, action="empty", why=f"{why}; Type {kind} here: emptied", need=need)
    if action == "empty" and need == "value":
        return replace(rule, action="dummy", why=f"{why}; Type {kind} here: dummy", need=need)
    if action == "empty" and vr == "SQ" and not need:
        # An empty Type 3 sequence is itself an error: remove it instead.
        return replace(rule, action="remove", why=f"{why}; optional sequence: removed")
    return replace(rule, need=need) if need else rule


def _compound(rule: Decision, kind: str | None, vr: str, iod_known: bool, need: str) -> Decision:
    choices = set(rule.code.replace("*", "").split("/"))
    if "U" in choices and vr == "SQ":
        # References to other objects, their UIDs mapped: valid at any type,
        # and the links between images and series survive.
        return replace(rule, why=f"{rule.why}; references kept, UIDs mapped (U)", need=need)
    if kind is None:
        if not iod_known:
            return replace(rule, why=rule.why + _UNKNOWN_IOD)
        if "X" in choices:
            return replace(rule, action="remove", why=f"{rule.why}; not in this IOD here: X")
        return rule
    if need == "value":
        action = "uid" if vr == "UI" and "U" in choices else "dummy"
    elif need == "present":
        action = "empty"
    else:
        action = "remove"
    letter = {"uid": "U", "dummy": "D", "empty": "Z", "remove": "X"}[action]
    return replace(rule, action=action, why=f"{rule.why}; Type {kind} here: {letter}", need=need)


def _not_free_text(ds: Dataset, elem: DataElement) -> bool:
    """A safe-listed private value that cannot hold a name. Its VR is the
    file's word only in explicit VR; in an implicit-VR file (or written as
    UN) it is the dictionary's, and the bytes are whatever the file held."""
    vr, value = elem.VR, elem.value
    if vr == "UN":
        return bool(NUMERIC_TEXT.match(value if isinstance(value, bytes) else b""))
    if vr in _FREE_TEXT_PRIVATE:
        return False
    if ds.original_encoding[0]:  # implicit VR
        return numeric_text(value) or binary_without_words(vr, value)
    if vr in FORMS:  # an invalid one (text) is decoded as a plain string
        return value_has_form(vr, value)
    return True


_CACHED: list[tuple[object, Decider]] = []


def decider_for(owner: object, profile: ResolvedProfile) -> Decider:
    """One decider per process and settings object, so its cache stays warm
    across the files a worker handles."""
    if not _CACHED or _CACHED[0][0] is not owner:
        _CACHED[:] = [(owner, Decider(profile))]
    return _CACHED[0][1]
