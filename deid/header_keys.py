"""A few top-level values from the start of a Part 10 header, without pydicom.

The main process reads every input's identifying UIDs before any work is
sent (deid.claims). Building a pydicom data set for that parsed every
element up to group 0020, private blocks included: about a third of the
main process's time on real CT headers. This walk (deid.raw_walk) only
steps over elements (tag, VR, length) and copies the values asked for.

It answers only where its answer equals pydicom's: uncompressed
little-endian data sets in Part 10 files, values of printable ASCII. For
anything else (no preamble, big endian, deflated, a value with other bytes,
several values, a header cut short, an element it cannot step over) it
returns None, and the caller reads the header with pydicom as before.
"""

from __future__ import annotations

from deid.raw_walk import UNDEFINED, CannotTell, data_set_start, element, past_undefined, text


def top_level_values(head: bytes, tags: frozenset[int]) -> dict[int, str] | None:
    """The values of `tags` (top level, all below group 0x0021) as pydicom's
    str() of them would read, "" for those absent; None when this walk
    cannot tell."""
    try:
        pos, implicit = data_set_start(head)
        return _values(head, pos, implicit, tags, max(tags))
    except (CannotTell, RecursionError):  # sequences nested thousands deep
        return None


def _values(head: bytes, pos: int, implicit: bool, tags: frozenset[int], last: int) -> dict:
    found = dict.fromkeys(tags, "")
    while pos < len(head):
        tag, vr, length, start = element(head, pos, implicit)
        if tag > last:
            return found
        if length == UNDEFINED:
            pos = past_undefined(head, tag, start, implicit)
            continue
        if start + length > len(head):
            raise CannotTell
        if tag in found:
            found[tag] = text(head[start : start + length], vr)
        pos = start + length
    return found  # the data set ended where an element did, as pydicom reads it too
