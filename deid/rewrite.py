"""Series-level rewrites: the one place outputs change after the per-file step.

Some facts are known only once a whole series has been seen (a head series
shows no face; a series carries burned-in text). The outputs already written
for it are then read, edited and published again here, and the resume
journal learns their new size, so a resumed run trusts them as it should.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

from deid.dicom_io import atomic_write
from deid.part10 import encode
from deid.pipeline import Journal
from deid.settings import Settings

Edit = Callable[[Dataset], bool]  # changes the data set; False when nothing changed


class OutputRewriter:
    """Edits written outputs in place (atomically) and keeps the journal true.

    In a dry run nothing was written, so nothing is rewritten.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._journal: Journal | None = None

    @property
    def active(self) -> bool:
        return not self.settings.dry_run

    def rewrite(self, source: str, relative: str, edit: Edit) -> bool:
        """Apply edit to the output of input `source`; True when it changed."""
        if not self.active:
            return False
        path = self.settings.output / relative
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path)
        if not edit(ds):
            return False
        data = encode(ds)
        atomic_write(path, data, root=self.settings.output)
        self.record(source, len(data))
        return True

    def record(self, source: str, size: int) -> None:
        """An output of `source` rewritten (here or by a series step such as
        defacing): the journal learns its size, so a resume trusts it."""
        if self._journal is None:
            self._journal = Journal(self.settings.report_dir, self.settings)
        self._journal.set_output_size(Path(source), size)

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None
