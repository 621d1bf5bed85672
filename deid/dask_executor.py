"""Per-file work on a Dask cluster (`--executor dask`).

Workers receive the settings, the pseudonym key included, and read inputs
and write outputs on a shared file system. So the cluster deid starts
itself (no --scheduler) is closed to everyone else: mutual TLS with a
certificate made for this run and kept in memory (distributed's
`Security.temporary()`), listening on 127.0.0.1 only, no dashboard and no
HTTP routes. A
process of another local user cannot connect, submit code to the workers or
read the key. An external --scheduler is the user's cluster: it should be a
`tls://` address with Dask's TLS settings (`distributed.comm.tls.*`: CA,
client certificate and key) in the Dask configuration deid reads; a plain
`tcp://` one gets a warning, since the key and the data would travel in the
clear.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from typing import Any

from deid.errors import DeidWarning, UsageError
from deid.executors import BATCH, ExecutorSettings, Task, Work, _Unfinished, run_items
from deid.limits import memory_budget

SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")
PRIVATE_CLUSTER = {
    # Scheduler and workers still open an HTTP port each; it serves nothing
    # (no dashboard, no /info pages naming workers and tasks).
    "distributed.scheduler.http.routes": [],
    "distributed.worker.http.routes": [],
    # deid splits a batch whose worker died and reports the item that kills
    # a second one: Dask need not retry it on other workers first.
    "distributed.scheduler.allowed-failures": 0,
}
CONNECT_TIMEOUT = "20s"


def check_available() -> None:
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise UsageError(
            "--executor dask needs Dask distributed: pip install -e '.[dask]' from a "
            "checkout (the distribution is deid-dicom)"
        ) from None


def check_scheduler(address: str) -> None:
    """A malformed address is one line; an unencrypted one is a warning."""
    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, location = parse_address(address, strict=False)
        if scheme not in SCHEMES:
            raise ValueError(f"unknown protocol {scheme!r}")
        parse_host_port(location)
    except (ValueError, TypeError) as exc:
        raise UsageError(
            f"--scheduler {address!r} is not a Dask scheduler address such as "
            f"tls://HOST:PORT ({exc})"
        ) from None
    if scheme not in ("tls", "wss"):
        warnings.warn(
            f"the Dask scheduler at {address} is not encrypted ({scheme}://): the pseudonym key "
            "and the data travel to its workers in the clear; use tls:// on a shared network",
            DeidWarning,
            stacklevel=2,
        )


def _run_batch(run: Any, items: list[Work], settings: Any) -> list[Any]:
    return list(run_items(run, items, settings))


class DaskExecutor:
    def __init__(self, config: ExecutorSettings, task: Task) -> None:
        self.config = config
        self.task = task
        self.cluster: Any = None
        self.client: Any = None
        self.pending: dict[Any, tuple[list[Work], bool]] = {}

    def __enter__(self) -> DaskExecutor:
        import dask
        from distributed import Client, LocalCluster, Security

        if self.config.scheduler:
            try:
                self.client = Client(self.config.scheduler, timeout=CONNECT_TIMEOUT)
            # TypeError: a tls:// address without TLS settings in the Dask config.
            except (OSError, TimeoutError, ValueError, TypeError) as exc:
                raise UsageError(
                    f"cannot connect to the Dask scheduler at {self.config.scheduler}: "
                    f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                ) from None
        else:
            with dask.config.set(PRIVATE_CLUSTER):
                self.cluster = LocalCluster(
                    n_workers=self.config.jobs,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    security=Security.temporary(),
                    memory_limit=memory_budget(self.config.jobs) or "auto",
                )
                self.client = Client(self.cluster)
        self.remote = self.client.scatter(self.task.settings, broadcast=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            if self.pending:
                self.client.cancel(list(self.pending))
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def _submit(self, items: list[Work], alone: bool = False) -> None:
        future = self.client.submit(_run_batch, self.task.run, items, self.remote, pure=False)
        self.pending[future] = (items, alone)

    def run(self, work: Iterable[Any]) -> Iterator[Any]:
        batch: list[Work] = []
        limit = self.config.jobs * 4
        for item in work:
            if not isinstance(item, tuple):
                yield item
                continue
            batch.append(item)
            if len(batch) >= BATCH:
                self._submit(batch)
                batch = []
                while len(self.pending) > limit:
                    yield from self._wait()
        if batch:
            self._submit(batch)
        while self.pending:
            yield from self._wait()

    def _wait(self) -> Iterator[Any]:
        from distributed import wait

        done, _ = wait(list(self.pending), return_when="FIRST_COMPLETED")
        for future in done:
            items, alone = self.pending.pop(future)
            try:
                results = future.result()
            except Exception as exc:  # noqa: BLE001 - a worker died (KilledWorker) or worse
                if alone:
                    reason = f"worker died (Dask: {type(exc).__name__})"
                    yield self.task.failed(items[0], reason, True)
                else:
                    for item in items:
                        self._submit([item], alone=True)
                continue
            for item, result in zip(items, results, strict=True):
                if isinstance(result, _Unfinished):
                    result = self.task.failed(item, result.reason, False)
                yield result
