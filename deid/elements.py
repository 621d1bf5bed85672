"""pydicom's own element store, for the loops that visit every element.

`Dataset.keys()` and `get_item` normalise and compare tags in Python (a
`Tag()` call, `isinstance` checks, `BaseTag.__eq__` on every dict hit): at a
few hundred elements per file and several walks per file, that was about a
tenth of deid's per-file time. The store maps each tag to the element as
read (a RawDataElement until decoded), in pydicom's insertion order, as
`keys()` gives it. Loops that change the data set iterate over a copy.
"""

from __future__ import annotations

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag

Stored = DataElement | RawDataElement


def stored(ds: Dataset) -> dict[BaseTag, Stored]:
    """The data set's elements by tag, undecoded where not yet decoded."""
    return ds._dict  # noqa: SLF001 - pydicom's store since 1.0, pinned <4


def in_tag_order(ds: Dataset) -> list[tuple[BaseTag, Stored]]:
    """(tag, element) in ascending tag order, as a file holds them. Sorted
    by the plain integer: BaseTag's own comparison is a Python call."""
    store = stored(ds)
    return [(tag, store[tag]) for tag in sorted(store, key=int)]
