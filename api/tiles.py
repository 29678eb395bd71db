"""Vector tiles: ``GET /tiles/{layer}/{z}/{x}/{y}.pbf?token=…`` (Mapbox Vector Tile).

The token (``services.tiles.tile_access``, made by a dashboard page) names the user's
scope; the tile is computed as that scope, so row-level security decides what is in it.
``area=`` narrows it to a district, street or community inside the token's own area
(403 outside).
Answers are ``private`` (they depend on the user), cached for 30 s, with a strong ETag
(``If-None-Match`` → 304). The dashboard is another origin (its own port): loopback
origins, and those in ``GRIDGOV_TILE_ORIGINS`` (comma-separated), may read the tiles.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable
from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import Response
from sqlalchemy.engine import Engine

from services.tiles import LAYERS, case_filter, scope_from_token, tile_bytes

MVT = "application/vnd.mapbox-vector-tile"
MAX_AGE_S = 30
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def build_tiles_router(engine: Engine | Callable[[], Engine]) -> APIRouter:
    """The tile route on ``engine`` (or a function returning it, called on first use)."""
    router = APIRouter(tags=["Vector tiles"])

    @functools.cache
    def current_engine() -> Engine:
        return engine if isinstance(engine, Engine) else engine()

    @router.get(
        "/tiles/{layer}/{z}/{x}/{y}.pbf",
        responses={200: {"content": {MVT: {}}}, 304: {}, 401: {}, 403: {}},
        summary="One vector tile of cases, parts, grids, communities or the base map",
    )
    def get_tile(  # noqa: PLR0913 (the path and query parameters of a tile)
        request: Request,
        *,
        layer: Annotated[str, Path(description=f"one of {', '.join(LAYERS)}")],
        z: Annotated[int, Path(ge=0, le=22)],
        x: Annotated[int, Path(ge=0)],
        y: Annotated[int, Path(ge=0)],
        token: Annotated[str | None, Query(max_length=1000)] = None,
        status: Annotated[
            str | None, Query(max_length=200, description="cases: open (default), all, a,b")
        ] = None,
        category: Annotated[
            str | None, Query(max_length=2000, description="cases: service codes a,b")
        ] = None,
        since: Annotated[datetime | None, Query(description="cases reported at or after")] = None,
        until: Annotated[datetime | None, Query(description="cases reported before")] = None,
        area: Annotated[
            str | None,
            Query(
                max_length=12,
                description="narrow to a district, street or community code inside the "
                "token's own area (cases, parts, grids, communities; not the base map)",
            ),
        ] = None,
        v: Annotated[
            str | None,
            Query(
                max_length=40,
                pattern=r"^[0-9A-Za-z_.-]*$",
                description="the page's data version (opaque): a new one is never answered "
                "from a tile kept for another",
            ),
        ] = None,
        if_none_match: Annotated[str | None, Header(max_length=1000)] = None,
    ) -> Response:
        scope = scope_from_token(token)
        wanted = case_filter(status=status, category=category, since=since, until=until)
        body = tile_bytes(
            current_engine(),
            scope=scope,
            layer=layer,
            z=z,
            x=x,
            y=y,
            cases=wanted,
            area=area,
            version=v or None,
        )
        etag = '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'
        headers = {
            "ETag": etag,
            "Cache-Control": f"private, max-age={MAX_AGE_S}",
            "Vary": "Origin",
            **_cors(request.headers.get("origin")),
        }
        if if_none_match and etag in {t.strip() for t in if_none_match.split(",")}:
            return Response(status_code=304, headers=headers)
        return Response(body, media_type=MVT, headers=headers)

    return router


def _cors(origin: str | None) -> dict[str, str]:
    """``Access-Control-Allow-Origin`` for the dashboard's origin (loopback or listed)."""
    if not origin:
        return {}
    listed = {o.strip() for o in os.environ.get("GRIDGOV_TILE_ORIGINS", "").split(",") if o}
    host = urlsplit(origin).hostname or ""
    if origin in listed or host in LOOPBACK_HOSTS:
        return {"Access-Control-Allow-Origin": origin}
    return {}
