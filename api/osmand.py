"""``/osmand``: GPS fixes in the OsmAnd protocol, as Traccar Client sends them.

``GET`` or ``POST /osmand?id=…&lat=…&lon=…&timestamp=…&speed=…&bearing=…&altitude=…
&accuracy=…&batt=…&key=…`` (POST may carry the parameters as a form body instead). ``id`` is
the worker's code or a registered device id; ``key`` is the device token (put into the server
URL Traccar Client is given); ``speed`` is in knots. A fix without a valid key is refused
(401 ``missing_key``/``bad_key``/``key_mismatch``, unknown id 404) and counted. Answers
``200 OK`` (text) when the fix is stored, kept aside or a duplicate — the tracker must not
resend those.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from services import field_tracks
from services.errors import GridGovError

PARAMS = (
    "id",
    "deviceid",
    "lat",
    "lon",
    "timestamp",
    "speed",
    "bearing",
    "altitude",
    "accuracy",
    "batt",
    "hdop",
    "valid",
    "key",
)
"""The protocol's parameters (OsmAnd / Traccar Client) and GridGov's ``key``; others are
ignored (Traccar Client may add its own, e.g. ``charge``)."""
MAX_BODY = 10_000


def build_osmand_router(engine: Engine | Callable[[], Engine]) -> APIRouter:
    """The OsmAnd endpoint on ``engine`` (or a function returning it)."""
    router = APIRouter(tags=["OsmAnd protocol"])

    @functools.cache
    def db() -> Engine:
        return engine if isinstance(engine, Engine) else engine()

    @router.get("/osmand", summary="One fix (OsmAnd protocol, query string)")
    async def osmand_get(request: Request) -> PlainTextResponse:
        return await osmand(request)

    @router.post("/osmand", summary="One fix (OsmAnd protocol, query string or form body)")
    async def osmand_post(request: Request) -> PlainTextResponse:
        return await osmand(request)

    async def osmand(request: Request) -> PlainTextResponse:
        params = {k: v for k, v in request.query_params.items() if k in PARAMS}
        if request.method == "POST":
            body = (await request.body())[:MAX_BODY]
            kind = request.headers.get("content-type", "")
            if body and ("form" in kind or not params):
                for key, value in parse_qsl(body.decode("utf-8", "replace")):
                    if key in PARAMS:
                        params.setdefault(key, value)
        if "id" not in params and "deviceid" in params:
            params["id"] = params["deviceid"]
        try:
            result = await run_in_threadpool(field_tracks.osmand_fix, db(), params)
        except GridGovError as exc:
            # counted, then answered in the field format by the app's error handler
            await run_in_threadpool(
                field_tracks.refuse_fix, db(), reason=exc.code, tracker_id=params.get("id")
            )
            raise
        return PlainTextResponse(f"OK stored={result['stored']}")

    return router
