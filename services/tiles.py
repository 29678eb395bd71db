"""Vector tiles for a dashboard user: a signed, short-lived tile token and the tile itself.

A Streamlit page cannot hand its login to the browser's tile requests (they go to
``gridgov api``, another server), so the page asks :func:`tile_access` for a token that
names the user's scope — role, area, department, username — and an expiry, signed with
HMAC-SHA256. The API checks it (:func:`scope_from_token`) and computes the tile inside a
unit of work as that scope: row-level security applies as on every other read, and the
database checks the user's row again (a disabled user's token stops working).

The secret is ``GRIDGOV_TILE_SECRET``, else ``$GRIDGOV_HOME/tile_secret`` (made on first
use, mode 0600), so the dashboard and the API on one machine share it.

A tile may be narrowed to an ``area`` (district, street or community code) inside the
token's own: the page's area picker. Tiles are kept in this process for
``GRIDGOV_TILE_CACHE_S`` seconds (default 5, 0: off, at most 9 so that a new report is on
the map within 10 s), per (scope, layer, tile, filter, area): writers pay nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from cachetools import TTLCache
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import QueuePool

from city import time_zone
from gis.errors import GridGovError
from layers import basemap, tiles
from layers.basemap import BasemapAccount, BasemapError
from layers.cluster import default_home
from layers.cluster_auth import ensure_secret
from layers.tiles import LAYERS, OPEN_STATUSES, BadTileRequest, CaseFilter
from layers.workflow.access import Scope, enter_scope
from layers.workflow.errors import BadValue
from services.uow import unit_of_work

__all__ = [
    "LAYERS",
    "BadTileRequest",
    "BasemapAccount",
    "BasemapError",
    "CaseFilter",
    "TileAccess",
    "TileAreaError",
    "TileTokenError",
    "case_filter",
    "clear_cache",
    "load_basemap",
    "narrowed_area",
    "scope_from_token",
    "tile_access",
    "tile_bytes",
    "warm_pool",
]

WINDOW_S = 600
"""Tokens are minted per 10-minute window and live until the end of the next one
(10–20 min): the same token for every rerun of a page within a window."""
DEFAULT_API_URL = "http://127.0.0.1:8000"
CACHE_S = 5.0
"""Default seconds a tile is kept (``GRIDGOV_TILE_CACHE_S``)."""
MAX_CACHE_S = 9.0
"""New reports must be on the map within 10 s: no tile is kept longer than this."""
CACHE_BYTES = 64_000_000
"""At most this many bytes of tiles are kept (the least recently used go first)."""


class TileTokenError(GridGovError):
    """A tile request without a valid token (missing, forged, malformed or expired)."""

    code = "tile_token"
    kind = "unauthorised"


class TileAreaError(GridGovError):
    """A tile narrowed to an area outside the token's own (a supervisor narrows only inside)."""

    code = "tile_area"
    kind = "forbidden"


@dataclass(frozen=True)
class TileAccess:
    """What a page hands to the map: the token, the API's base URL and the expiry."""

    token: str
    api_url: str
    expires_at: datetime


@lru_cache(maxsize=1)
def _secret() -> bytes:
    if env := os.environ.get("GRIDGOV_TILE_SECRET"):
        return env.encode()
    home = default_home()
    home.mkdir(parents=True, exist_ok=True)
    return ensure_secret(home / "tile_secret").encode()


def _sign(body: bytes) -> str:
    mac = hmac.new(_secret(), body, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def tile_access(
    scope: Scope, *, now: float | None = None, api_url: str | None = None
) -> TileAccess:
    """A signed token for ``scope``'s tiles and the API URL to fetch them from.

    ``scope.username`` should be set (a dashboard user): the API's login is not
    privileged, and the database checks role and area against that user's row.
    """
    now = time.time() if now is None else now
    expires = (int(now) // WINDOW_S + 2) * WINDOW_S
    claims = {
        "r": scope.role,
        "a": scope.area,
        "d": scope.department_code,
        "u": scope.username,
        "e": expires,
    }
    body = base64.urlsafe_b64encode(
        json.dumps(claims, separators=(",", ":"), sort_keys=True).encode()
    ).rstrip(b"=")
    return TileAccess(
        token=f"{body.decode()}.{_sign(body)}",
        api_url=(api_url or os.environ.get("GRIDGOV_API_URL") or DEFAULT_API_URL).rstrip("/"),
        expires_at=datetime.fromtimestamp(expires, UTC),
    )


def scope_from_token(token: str | None, *, now: float | None = None) -> Scope:
    """The scope a token names.

    Raises
    ------
    TileTokenError
        No token, a malformed or forged one, or one past its expiry.
    """
    if not token:
        raise TileTokenError("token: missing (ask the dashboard page for the map's tile token)")
    body, _, mac = token.partition(".")
    # compared as bytes: compare_digest refuses non-ASCII text with a TypeError (a 500)
    sent = mac.encode("utf-8", "replace")
    if (
        not body
        or not mac
        or not hmac.compare_digest(_sign(body.encode("utf-8", "replace")).encode(), sent)
    ):
        raise TileTokenError("token: not signed by this GridGov (forged or malformed)")
    try:
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        expires = int(claims["e"])
        role = str(claims["r"])
    except (ValueError, KeyError, TypeError) as exc:
        raise TileTokenError("token: malformed") from exc
    if (time.time() if now is None else now) >= expires:
        raise TileTokenError("token: expired; reload the page for a new one")
    return Scope(role=role, area=claims.get("a"), department_code=claims.get("d"),
                 username=claims.get("u"))  # fmt: skip


def case_filter(
    *,
    status: str | None = None,
    category: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> CaseFilter:
    """The cases layer's filter from a request's text: ``status`` ``open`` (default),
    ``all`` or comma-separated status codes; ``category`` comma-separated service codes;
    ``since`` / ``until`` without an offset are the city's local time.

    Raises
    ------
    BadTileRequest
        ``until`` not after ``since``.
    """
    # a time without an offset (or a bare date) is the city's local time: what an operator
    # means by it (and one naive, one aware could not be compared: a TypeError, a 500)
    city = time_zone()
    since = since.replace(tzinfo=city) if since is not None and since.tzinfo is None else since
    until = until.replace(tzinfo=city) if until is not None and until.tzinfo is None else until
    if since is not None and until is not None and until <= since:
        raise BadTileRequest("until: must be after since")
    text = (status or "open").strip()
    statuses: tuple[str, ...] | None
    if text == "open":
        statuses = OPEN_STATUSES
    elif text == "all":
        statuses = None
    else:
        statuses = tuple(s.strip() for s in text.split(",") if s.strip())
    categories = tuple(c.strip() for c in (category or "").split(",") if c.strip()) or None
    return CaseFilter(statuses=statuses, categories=categories, since=since, until=until)


def narrowed_area(scope: Scope, area: str | None) -> str | None:
    """``area`` (None: the scope's whole area) if it lies inside the scope's own area.

    Raises
    ------
    BadTileRequest
        Not a district, street or community code.
    TileAreaError
        An area outside (or wider than) the scope's own.
    """
    if area is None:
        return None
    area = area.strip()
    tiles.check_area(area)
    if scope.area and not area.startswith(scope.area):
        raise TileAreaError(
            f"area：{area} 不在您的辖区 {scope.area} 之内（只能在本辖区内缩小范围）/ "
            f"area: {area} is not inside your own area {scope.area} (narrow inside it only)"
        )
    return area


def tile_bytes(  # noqa: PLR0913 (a tile's address, filter, area and version, keyword-only)
    engine: Engine,
    *,
    scope: Scope,
    layer: str,
    z: int,
    x: int,
    y: int,
    cases: CaseFilter | None = None,
    area: str | None = None,
    version: str | None = None,
) -> bytes:
    """One tile of ``layer`` as ``scope`` may see it (MVT bytes; empty: nothing there),
    narrowed to ``area`` (checked by :func:`narrowed_area`); kept for a few seconds.

    ``version`` is the page's data version (opaque; the live page sends the newest history
    id it has seen): a tile kept under another version is not served for it, so a page
    that saw a change draws it at once.
    """
    tiles.check_address(layer, z, x, y)
    area = narrowed_area(scope, area)
    cache = _cache()
    # the scope's equality (role, area, department) is what row-level security reads
    key = (scope, layer, z, x, y, cases, area, version)
    if cache is not None:
        with _CACHE_LOCK:
            kept = cache.get(key)
        if kept is not None:
            return kept
    with unit_of_work(engine, scope) as conn:
        body = tiles.tile(conn=conn, layer=layer, z=z, x=x, y=y, cases=cases, area=area)
    if cache is not None and len(body) < CACHE_BYTES:
        with _CACHE_LOCK:
            cache[key] = body
    return body


_CACHE_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _cache() -> TTLCache[tuple[object, ...], bytes] | None:
    """The process's tile cache (None: ``GRIDGOV_TILE_CACHE_S=0``)."""
    raw = os.environ.get("GRIDGOV_TILE_CACHE_S", str(CACHE_S))
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= MAX_CACHE_S:
        raise BadValue(
            f"GRIDGOV_TILE_CACHE_S：{raw!r} 应为 0–{MAX_CACHE_S:g} 秒 / "
            f"GRIDGOV_TILE_CACHE_S: {raw!r} must be 0–{MAX_CACHE_S:g} seconds"
        )
    if seconds == 0:
        return None
    # a kept tile costs its bytes and the key's (~100 bytes): empty tiles count too
    return TTLCache(maxsize=CACHE_BYTES, ttl=seconds, getsizeof=lambda body: len(body) + 100)


def clear_cache() -> None:
    """Forget every kept tile and re-read ``GRIDGOV_TILE_CACHE_S`` (tests, settings)."""
    _cache.cache_clear()


def warm_pool(engine: Engine, connections: int | None = None) -> int:
    """Open ``connections`` of ``engine``'s connections at once (default: as many as its
    pool keeps) and plan a tile of every layer in each (:func:`_plan_every_layer`, which
    loads PostGIS and its Web Mercator transform too), then give them back to the pool: a map's
    first tiles then find them open and ready (a new connection's first tile pays its
    connect and PostGIS's loading, ~70-100 ms, and the catalogue, ~10-25 ms). Returns
    how many were warmed. ``gridgov api`` calls it once when it starts."""
    size = engine.pool.size() if isinstance(engine.pool, QueuePool) else 1
    wanted = size if connections is None else min(connections, size)
    with ExitStack() as stack:
        opened = [stack.enter_context(engine.connect()) for _ in range(wanted)]
        for conn in opened:
            _plan_every_layer(conn)
    return len(opened)


WARM_SCOPE = Scope("api_client")
"""Who a warming tile is computed as: a public client, the identity any login may take
(it sees only what Open311 publishes)."""
WARM_ADDRESS = (14, 0, 0)
"""Where a warming tile is: the world's north-west corner (85° N, 180° W), where no city
lies, so that nothing is read; only the statement is planned."""


def _plan_every_layer(conn: Connection) -> None:
    """One tile of every layer on ``conn``, as :data:`WARM_SCOPE` at :data:`WARM_ADDRESS`,
    then rolled back: the server process then holds what planning a tile reads from the
    catalogue (every month partition of ``cases`` and its indexes, the row-level security
    policies, the identity functions compiled), which a first real tile would otherwise
    pay (~10 ms at rest, ~25 ms on a loaded machine, with 17 month partitions)."""
    z, x, y = WARM_ADDRESS
    with conn.begin() as tx:
        enter_scope(conn=conn, scope=WARM_SCOPE)
        tiles.tile(conn=conn, layer=",".join(LAYERS), z=z, x=x, y=y)
        tx.rollback()


def load_basemap(engine: Engine, path: Path | None, *, source: str | None = None) -> BasemapAccount:
    """Load the base map from an OSM extract ``path`` (source: the file name), or from the
    district's own roads and buildings when ``path`` is None (source ``demo``); replaces
    that source's features in one transaction."""
    with engine.begin() as conn:
        if path is None:
            return basemap.demo_basemap(conn=conn, source=source or "demo")
        features = basemap.read_osm(path)
        return basemap.replace_basemap(conn=conn, source=source or path.name, features=features)
