"""Code meanings as the coding schemes give them.

A CodeMeaning is the vocabulary's text for its code, not anything the file
says of the patient: a patient named Long had "Long Axis" (SNOMED CT
103339001) cut to "Axis" by verification's repair, one named Mass had an SR
whose concept is SNOMED's "Mass" withheld. A meaning that is its code's
meaning in the standard's tables (pydicom's, generated from PS3.16) is
vocabulary; any other meaning (a private code, a meaning typed by hand) is
text like any other.
"""

from __future__ import annotations

from functools import cache

from pydicom.dataset import Dataset

CODE_MEANING = 0x00080104


def _plain(text: str) -> str:
    return " ".join(text.split()).casefold()


@cache
def load() -> dict[tuple[str, str], frozenset[str]]:
    """(scheme, code value) -> the meanings the tables give it; SNOMED's
    older SRT codes (reports before 2019) as their SCT codes'. Loaded when
    first asked (~0.85 s, most of it importing pydicom's tables, and
    ~27 MB): only a verification that parses an output asks."""
    from pydicom.sr.codedict import codes

    found: dict[tuple[str, str], set[str]] = {}
    for scheme in codes.schemes():
        for code in getattr(codes, scheme).concepts.values():
            key = (code.scheme_designator, code.value)
            found.setdefault(key, set()).add(_plain(code.meaning))
    for sct, srt in _srt_codes().items():
        if ("SCT", sct) in found:
            found.setdefault(("SRT", srt), set()).update(found[("SCT", sct)])
    return {key: frozenset(meanings) for key, meanings in found.items()}


def _srt_codes() -> dict[str, str]:
    """SCT code -> its SRT code, from pydicom's table (a private module:
    without it, SRT meanings are searched as before)."""
    try:
        from pydicom.sr._snomed_dict import mapping
    except ImportError:
        return {}
    return dict(mapping.get("SCT", {}))


def standard_meaning(item: Dataset) -> bool:
    """The item's CodeMeaning is its code's meaning in the standard's tables."""
    meaning = item.get("CodeMeaning")
    if meaning is None:
        return False
    scheme = str(item.get("CodingSchemeDesignator", "") or "").strip()
    value = str(item.get("CodeValue", "") or "").strip()
    return _plain(str(meaning)) in load().get((scheme, value), frozenset())
