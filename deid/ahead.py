"""Work run ahead of its consumer in a background thread, and imports kept
apart from forks.

A thread that imports a module while the main process forks a worker
leaves the child with that module's import lock held by a thread it does
not have: the child hangs the first time it needs the module. Background
threads therefore import under `FORK_LOCK`, which every fork of a local
worker takes too (deid.executors).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")

FORK_LOCK = threading.Lock()
_END = object()
_POLL_SECONDS = 0.1


def in_background(target: Callable[..., Any], *args: Any) -> threading.Thread:
    """Run `target` in a started thread, holding off forks while it runs
    (it may import). Join it before the interpreter exits: native code
    still loading in an abandoned thread aborts the process."""

    def guarded() -> None:
        with FORK_LOCK:
            try:
                target(*args)
            except Exception:  # noqa: BLE001 - loading ahead only: the step that needs it
                return  # loads it again and says why it cannot, in its own place

    thread = threading.Thread(target=guarded, daemon=True, name="deid-warm")
    thread.start()
    return thread


class Ahead(Generic[T]):
    """The items of `source`, produced in a background thread at most
    `depth` items ahead of the consumer: a step whose work does not depend
    on the one running now starts while that one still runs, and memory
    stays bounded. Exceptions reach the consumer; close() stops the thread
    and closes `source` in it (a generator runs its cleanup there)."""

    def __init__(self, source: Iterator[T], depth: int) -> None:
        self._items: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._produce, args=(source,), daemon=True, name="deid-ahead"
        )
        self._thread.start()

    def _produce(self, source: Iterator[T]) -> None:
        try:
            for item in source:
                if not self._put((item, None)):
                    break
            else:
                self._put((_END, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            self._put((_END, exc))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    def _put(self, entry: tuple[Any, BaseException | None]) -> bool:
        """False once the consumer stopped listening."""
        while not self._stop.is_set():
            try:
                self._items.put(entry, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[T]:
        while True:
            item, error = self._items.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
