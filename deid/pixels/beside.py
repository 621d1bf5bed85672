"""What pixel data holds beside its image, one list for run and scan.

Bits above BitsStored (deid.pixels.unused_bits), RLE bytes beyond the
frames (deid.pixels.fragments), JPEG bytes after a stream's end or in its
comments (deid.pixels.jpeg_streams): no decoder hands them to the text
check. A run removes them and says so (low); a scan reports them (medium).
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from deid.pixels import fragments, jpeg_streams, unused_bits
from deid.risk.findings import Finding, Severity


def findings(ds: Dataset, label: str, remove: bool) -> list[Finding]:
    """With `remove`, what is found is removed from `ds` (a run)."""
    severity = Severity.LOW if remove else Severity.MEDIUM
    found = []
    held = unused_bits.clear(ds) if remove else unused_bits.count(ds)
    if held:
        action = "cleared (the image's values are unchanged)" if remove else _SCAN_CLEARS
        found.append(unused_bits.finding(held, label, severity, action))
    surplus = fragments.trim(ds, remove) + jpeg_streams.trim(ds, remove)
    if surplus:
        action = _RUN_REMOVES if remove else _SCAN_REMOVES
        found.append(fragments.finding(surplus, label, severity, action))
    return found


_SCAN_CLEARS = "de-identify with `deid run` (it clears them)"
_SCAN_REMOVES = "de-identify with `deid run` (it removes them)"
_RUN_REMOVES = "removed (the image is unchanged; a frame holding more is encoded again)"
