"""Deciding: what happens to one element, and why. Pure and cached.

A decision depends only on the tag, its VR, where it sits (the enclosing
sequences), the file's IOD and the resolved profile; for private attributes
also on the block's creator. Nothing here changes a data set, so `deid scan`
asks the same questions as `deid run` without a key or a scrubber.
"""

from __future__ import annotations

import re

from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag, Tag

from deid.actions import DATE_VRS, TEXT_VRS
from deid.profiles import Decision, ResolvedProfile

GROUP_LENGTH = Decision("remove", "X", "group length: recomputed by the writer")
NOT_LISTED = Decision("remove", "X", "not in Table E.1-1 and not on the allow-list")
SEQUENCE = Decision("keep", "K", "sequence not in Table E.1-1: kept, every item filtered")
UID = Decision("uid", "U", "UID not in Table E.1-1: registered UIDs kept, others mapped")
PRIVATE_NOT_SAFE = Decision("remove", "X", "private attribute not on the safe-private list")
SAFE_PRIVATE = Decision("keep", "K", "safe private attribute (PS3.15 Table E.3.10-1)")
PRIVATE_CREATOR = Decision("private-creator", "", "private creator: kept only with its block")

_NUMERIC_TEXT = re.compile(rb"^[\d.+\-eE\\ \x00]*$")
# Private attributes whose value is one of these VRs can never be "safe".
_FREE_TEXT_PRIVATE = TEXT_VRS | {"UT", "UC", "OB", "OW"}


def dictionary_vr(tag: BaseTag) -> str:
    """The data dictionary's VR, or UN for tags it does not know."""
    try:
        return dictionary_VR(tag)
    except KeyError:
        return "UN"


class Decider:
    """The profile's answer for every element, cached per (tag, VR, place).

    One per worker and settings object: the few hundred distinct tags and
    places of a batch are decided once.
    """

    def __init__(self, profile: ResolvedProfile) -> None:
        self.profile = profile
        self._cache: dict[tuple[int, str, tuple[int, ...]], Decision] = {}
        # Most profiles remove every private attribute: then they need not be
        # decoded, inspected or reported one by one.
        self.private_wholesale = (
            not profile.private
            and not profile.safe_private
            and profile.private_default.action != "keep"
        )

    def decide(self, ds: Dataset, elem: DataElement, seq_tags: tuple[int, ...]) -> Decision:
        if elem.tag.is_private:
            return self.private(ds, elem)
        return self.standard(elem.tag, elem.VR, seq_tags)

    def standard(self, tag: BaseTag, vr: str, seq_tags: tuple[int, ...]) -> Decision:
        key = (int(tag), vr, seq_tags)
        decision = self._cache.get(key)
        if decision is None:
            decision = self._cache[key] = self._standard(tag, vr, seq_tags)
        return decision

    def _standard(self, tag: BaseTag, vr: str, seq_tags: tuple[int, ...]) -> Decision:
        if tag.element == 0:
            return GROUP_LENGTH
        rule = self.profile.rule_for(int(tag), seq_tags + (int(tag),))
        if rule is not None:
            return rule
        if vr == "SQ":
            return SEQUENCE
        if vr == "UI":
            return UID
        if int(tag) in self.profile.keep_tags:
            return Decision("keep", "K", self.profile.keep_why)
        if tag.group in self.profile.keep_groups and vr not in TEXT_VRS | DATE_VRS | {"UN"}:
            return Decision("keep", "K", self.profile.keep_why)
        return NOT_LISTED

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
        if self.profile.is_safe_private(tag.group, low, creator) and _not_free_text(elem):
            return SAFE_PRIVATE
        if self.profile.private_default.action == "keep":
            return self.profile.private_default
        return PRIVATE_NOT_SAFE


def _not_free_text(elem: DataElement) -> bool:
    if elem.VR == "UN":
        raw = elem.value if isinstance(elem.value, bytes) else b""
        return bool(_NUMERIC_TEXT.match(raw))
    return elem.VR not in _FREE_TEXT_PRIVATE


_CACHED: list[tuple[object, Decider]] = []


def decider_for(owner: object, profile: ResolvedProfile) -> Decider:
    """One decider per process and settings object, so its cache stays warm
    across the files a worker handles."""
    if not _CACHED or _CACHED[0][0] is not owner:
        _CACHED[:] = [(owner, Decider(profile))]
    return _CACHED[0][1]
