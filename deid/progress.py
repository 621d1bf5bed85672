"""Progress of a batch, for a person at a terminal or a CI log.

At a terminal: a bar with the count, the rate and an ETA; the total comes
from a second, cheap walk of the inputs in the background (processing
streams from discovery, so it is not known up front). Elsewhere (CI logs,
redirected standard error): one plain line every few seconds, never a
control sequence. Quiet: nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from deid.terminal import say

PLAIN_EVERY = 10.0  # seconds between plain lines


class BatchProgress:
    """`advance()` once per file; use as a context manager."""

    def __init__(
        self, console: Console, label: str, inputs: list[Path], quiet: bool = False
    ) -> None:
        self.console, self.label, self.inputs = console, label, inputs
        self.live = not quiet and console.is_terminal
        self.plain = not quiet and not console.is_terminal
        self.total: int | None = None
        self.done = 0
        self.started = time.monotonic()
        self._last_line = self.started
        self._said: tuple[int, int | None] | None = None  # the last plain line's count
        self._bar = Progress(
            TextColumn(f"[bold]{label}[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=not self.live,
        )
        self._task = self._bar.add_task("files", total=None, rate="")
        self._counter: threading.Thread | None = None

    def __enter__(self) -> BatchProgress:
        self._bar.__enter__()
        if not (self.live or self.plain):
            return self
        self._counter = _count_in_background(self.inputs, self._set_total)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._bar.__exit__(kind, exc, tb)
        if self.plain and kind is None and self.done:
            if self._counter is not None:
                # The count walks the folders the batch has just finished, so it
                # ends soon; the last line has its total even on a loaded machine
                # (a 2 s bound left it off there).
                self._counter.join()
            if self._said != (self.done, self.total):  # a slow last file said it already
                self._line()

    def _set_total(self, total: int) -> None:
        self.total = total
        self._bar.update(self._task, total=total)

    def advance(self, *_: object) -> None:
        self.done += 1
        now = time.monotonic()
        rate = self.done / (now - self.started) if now > self.started else 0.0
        self._bar.update(self._task, advance=1, rate=_rate(rate))
        if self.plain and now - self._last_line >= PLAIN_EVERY:
            self._line(now)

    def _line(self, now: float | None = None) -> None:
        now = now or time.monotonic()
        self._last_line = now
        elapsed = now - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        of = f"/{self.total}" if self.total is not None else ""
        eta = ""
        if self.total and rate > 0 and self.done < self.total:
            eta = f", about {(self.total - self.done) / rate:.0f} s left"
        say(self.console, f"{self.label}: {self.done}{of} files, {_rate(rate)}{eta}")
        self._said = (self.done, self.total)


def _count_in_background(inputs: list[Path], done: Callable[[int], None]) -> threading.Thread:
    def count() -> None:
        from deid.dicom_io import discover

        # Problems (a named input missing, a link loop) are results too.
        done(sum(1 for _ in discover(inputs)))

    thread = threading.Thread(target=count, daemon=True, name="deid-count")
    thread.start()
    return thread


def _rate(per_second: float) -> str:
    """Files a second; a slow run (a document, a head series) is not "0 files/s"."""
    if per_second >= 10:
        return f"{per_second:.0f} files/s"
    if per_second >= 1:
        return f"{per_second:.1f} files/s"
    return f"{per_second * 60:.1f} files/min"
