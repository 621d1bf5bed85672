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
from deid.paths import open_regular
from deid.pipeline import Journal
from deid.results import FileResult, Status
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
        size = self.edit(relative, edit)
        if size is None:
            return False
        self.record(source, size)
        return True

    def edit(self, relative: str, edit: Edit) -> int | None:
        """Apply edit to an output and publish it again: its new size, or None
        when nothing changed. The caller tells the journal (rewrite, replaced)."""
        if not self.active:
            return None
        path = self.settings.output / relative
        if not path.is_file():
            return None  # withdrawn by an earlier series step (text left after redaction)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with open_regular(path) as fh:
                ds = pydicom.dcmread(fh)
        if not edit(ds):
            return None
        data = encode(ds)
        atomic_write(path, data, root=self.settings.output)
        return len(data)

    def record(self, source: str, size: int) -> None:
        """An output of `source` rewritten (here or by a series step such as
        defacing): the journal learns its size, so a resume trusts it."""
        if self.active:
            self._open().set_output_size(Path(source), size)

    def replaced(self, result: FileResult, previous: str) -> None:
        """An input processed again (deid.pipeline.again), its output already
        replaced: the journal takes the new record. An input that now
        produces no output (withheld: text left after redaction; failed) has
        its earlier output `previous` withdrawn, and its record makes a
        resumed run process it again."""
        if not self.active:
            return
        if result.status is not Status.WRITTEN and previous:
            (self.settings.output / previous).unlink(missing_ok=True)
        self._open().append(result)

    def _open(self) -> Journal:
        if self._journal is None:
            self._journal = Journal(self.settings.report_dir, self.settings)
        return self._journal

    def close(self) -> None:
        if self._journal is not None:
            self._journal.close()
            self._journal = None
