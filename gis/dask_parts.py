"""Embarrassingly parallel parts on Dask: one task per item (a community to delineate, a chunk
of points to assign), the results back in the items' order.

A :class:`PartsMapper` runs ``fn(item, shared)`` for every item and returns the results in
order, calling ``progress(done, total)`` as the results come in (in the items' order, so that
a progress bar names the item just done, as in one process). :func:`map_in_process` runs the
items one after another here; :class:`DaskMapper` runs them on the workers of a
``distributed.Client``, ``shared`` sent to every worker once (``scatter(broadcast=True)``).

``fn`` must be picklable by reference (a module-level function of ``gis`` or ``layers``):
the workers run the same GridGov version (see docs/beyond-one-machine.md, section 3).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

from gis.coverage_dask import SchedulerUnreachableError
from gis.coverage_dask import connect as _connect

T = TypeVar("T")
S = TypeVar("S")
R = TypeVar("R")
Progress = Callable[[int, int], None]

__all__ = [
    "DaskMapper",
    "PartsMapper",
    "SchedulerUnreachableError",
    "connect",
    "map_in_process",
    "parts_mapper",
]


class PartsMapper(Protocol):
    """``mapper(fn, items, shared, progress)`` → ``[fn(item, shared) for item in items]``."""

    def __call__(
        self,
        fn: Callable[[T, S], R],
        items: Sequence[T],
        shared: S,
        progress: Progress | None = None,
    ) -> list[R]: ...


def map_in_process(
    fn: Callable[[T, S], R],
    items: Sequence[T],
    shared: S,
    progress: Progress | None = None,
) -> list[R]:
    """The items one after another in this process (the single-process path)."""
    results: list[R] = []
    for i, item in enumerate(items):
        results.append(fn(item, shared))
        if progress is not None:
            progress(i + 1, len(items))
    return results


class DaskMapper:
    """A :class:`PartsMapper` on the workers of a ``distributed.Client``."""

    def __init__(self, client: Any) -> None:
        self.client = client

    @property
    def threads(self) -> int:
        """Worker threads of the cluster now (at least 1)."""
        return max(1, sum(self.client.nthreads().values()))

    def __call__(
        self,
        fn: Callable[[T, S], R],
        items: Sequence[T],
        shared: S,
        progress: Progress | None = None,
    ) -> list[R]:
        if not items:
            return []
        [everywhere] = self.client.scatter([shared], broadcast=True, hash=False)
        # scatter the items too: a task then carries a key, not megabytes of arrays
        parts = self.client.scatter(list(items), hash=False)
        futures = self.client.map(fn, parts, [everywhere] * len(parts), pure=False)
        results: list[R] = []
        try:
            for i, future in enumerate(futures):
                results.append(future.result())  # raises the task's own exception
                if progress is not None:
                    progress(i + 1, len(futures))
        finally:
            self.client.cancel([*futures, *parts, everywhere])
        return results


def connect(scheduler: str) -> Any:
    """A ``distributed.Client`` of the scheduler at ``scheduler`` (``tcp://host:port``).

    Raises
    ------
    SchedulerUnreachableError
        Nothing answers there (the message in Chinese and English).
    """
    try:
        return _connect(scheduler)
    except SchedulerUnreachableError as exc:
        raise SchedulerUnreachableError(
            f"Dask 调度器 {scheduler} 无法连接，未写入任何数据 — {exc} Nothing was written."
        ) from exc


@contextmanager
def parts_mapper(scheduler: str | None) -> Iterator[DaskMapper | None]:
    """The mapper of ``scheduler`` (connected now, closed at the end), or None without one."""
    if not scheduler:
        yield None
        return
    client = connect(scheduler)
    try:
        yield DaskMapper(client)
    finally:
        client.close()
