"""Admission control for the field app's API: a bounded number of requests at work at once.

When 200 phones sync at the same moment, running every request at once makes each of
them slow (threads and database connections share two cores; the p99 was seconds). Here
each API process lets at most ``GRIDGOV_FIELD_MAX_INFLIGHT`` requests (default 6) of
``/field/api/`` and ``/osmand`` work at a time; a request waits up to
``GRIDGOV_FIELD_QUEUE_WAIT_MS`` (default 300) for its turn and is otherwise answered at
once with **503** ``{"code": "busy", …}`` and a ``Retry-After`` of a few seconds
(spread, so that the refused phones do not come back together). Nothing is done for a
refused request; the phone's outbox keeps it and sends it again after ``Retry-After``
(``webapps/common/outbox.js``), and a re-sent action is applied once (client ids).
Counts are per process (``admitted``, ``refused``), kept on the middleware; every admitted
answer carries ``Server-Timing: queue;dur=<ms waited>, app;dur=<ms at work>`` (the server's
own time, apart from the client's and the network's).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOG = logging.getLogger("gridgov.api")
DEFAULT_INFLIGHT = 6
DEFAULT_WAIT_MS = 300.0
RETRY_AFTER_S = (1, 4)
"""The ``Retry-After`` of a refused request: a whole number of seconds drawn from this range."""


class BadAdmissionSetting(ValueError):
    """``GRIDGOV_FIELD_MAX_INFLIGHT`` / ``GRIDGOV_FIELD_QUEUE_WAIT_MS`` not a positive number."""


def _setting(name: str, default: float, low: float, high: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise BadAdmissionSetting(f"{name}={raw!r}: not a number") from exc
    if not low <= value <= high:
        raise BadAdmissionSetting(f"{name}={raw!r}: must be within {low:g}…{high:g}")
    return value


class Admission:
    """ASGI middleware: at most ``limit`` requests under ``prefixes`` at work at once."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        prefixes: tuple[str, ...],
        limit: int | None = None,
        wait_s: float | None = None,
    ) -> None:
        self.app = app
        self.prefixes = prefixes
        self.limit = limit or int(
            _setting("GRIDGOV_FIELD_MAX_INFLIGHT", DEFAULT_INFLIGHT, 1, 1_000)
        )
        self.wait_s = (
            wait_s
            if wait_s is not None
            else _setting("GRIDGOV_FIELD_QUEUE_WAIT_MS", DEFAULT_WAIT_MS, 0, 60_000) / 1000
        )
        self._slots = asyncio.Semaphore(self.limit)
        self.admitted = 0
        self.refused = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        queued = time.perf_counter()
        try:
            await asyncio.wait_for(self._slots.acquire(), timeout=self.wait_s)
        except TimeoutError:
            self.refused += 1
            if self.refused % 100 == 1:
                LOG.warning("field API busy: %d requests refused with 503 so far", self.refused)
            await self._busy(send)
            return
        self.admitted += 1
        started = time.perf_counter()
        waited_ms = (started - queued) * 1000

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                work_ms = (time.perf_counter() - started) * 1000
                MutableHeaders(scope=message).append(
                    "Server-Timing", f"queue;dur={waited_ms:.1f}, app;dur={work_ms:.1f}"
                )
            await send(message)

        try:
            await self.app(scope, receive, timed)
        finally:
            self._slots.release()

    async def _busy(self, send: Send) -> None:
        retry = random.randint(*RETRY_AFTER_S)  # spreads the retries (not a secret)
        body = json.dumps(
            {
                "code": "busy",
                "message": (
                    f"the server is busy; nothing was done, send again in {retry} s "
                    f"/ 服务器繁忙，未做任何处理，{retry} 秒后自动重发"
                ),
            },
            ensure_ascii=False,
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 503,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(retry).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
