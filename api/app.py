"""The FastAPI application: Open311 under ``/open311/v2``, errors in Open311's format.

Interactive docs (``/docs``) are off unless ``GRIDGOV_API_DOCS=1``; then Swagger UI is
served from this server (``swagger-ui-dist``, pinned in ``frontend/``), never a CDN.
The machine-readable ``/openapi.json`` is always there.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.admission import Admission
from api.field import FIELD_PREFIXES, build_field_router, field_error
from api.guard import install_guard
from api.limits import Limiter, RateLimited, RateLimits
from api.notify import build_notify_router
from api.open311 import build_router
from api.osmand import build_osmand_router
from api.render import error
from api.report import BodyRefused, ReportLimits, build_report_router
from api.tiles import build_tiles_router
from api.webapps import mount_webapps
from services.errors import GridGovError, http_status
from services.tiles import warm_pool

log = logging.getLogger(__name__)

SWAGGER_DIR = Path(__file__).resolve().parent.parent / "static" / "vendor" / "swagger-ui"
"""Swagger UI's files, copied from npm's ``swagger-ui-dist`` by the asset build."""


class DocsUnavailable(RuntimeError):
    """``GRIDGOV_API_DOCS=1`` but Swagger UI's files are not installed (run ``make setup``)."""


def create_app(
    engine: Engine | Callable[[], Engine] | None = None,
    *,
    limits: RateLimits | None = None,
    docs: bool | None = None,
    report_limits: ReportLimits | None = None,
) -> FastAPI:
    """The API app on ``engine`` (default: the configured GridGov database, on first use).

    Parameters
    ----------
    limits
        Rate limits (default :meth:`api.limits.RateLimits.from_env`).
    docs
        Serve Swagger UI at ``/docs`` (default: ``GRIDGOV_API_DOCS=1``).
    report_limits
        The residents' app's write limits (default :meth:`api.report.ReportLimits.from_env`).
    """
    if engine is None:
        from layers.db import get_app_engine

        engine = get_app_engine
    limits = limits or RateLimits.from_env()
    warmed = threading.Event()
    app = FastAPI(
        lifespan=_warming(engine, warmed),
        title="GridGov Open311 GeoReport v2",
        version="0.1.0",
        description=(
            "Report problems to the city and follow them: Open311 GeoReport v2 "
            "(services, requests) with a bounding-box filter and paging. Coordinates may be "
            "declared as WGS 84, GCJ-02 or BD-09 (attribute[datum]); POST needs an api_key "
            "and takes an Idempotency-Key header."
        ),
        docs_url=None,
        redoc_url=None,
    )
    app.state.warmed = warmed  # set when the warming at start-up has ended
    app.include_router(build_router(engine, limits), prefix="/open311/v2")
    app.include_router(build_notify_router(engine, limits))
    app.include_router(build_tiles_router(engine))
    if docs if docs is not None else os.environ.get("GRIDGOV_API_DOCS") == "1":
        _serve_docs(app)
    app.include_router(build_field_router(engine), prefix="/field/api")
    app.include_router(build_osmand_router(engine))
    app.include_router(build_report_router(engine, report_limits), prefix="/report/api")
    # the web apps' own routers (…/api/…) go above this line; the files are mounted last
    mount_webapps(app)
    # inside the guard (its headers go on a 503 too): a bounded number of field requests
    # at work at once, the rest answered 503 + Retry-After at once (api/admission.py)
    app.add_middleware(Admission, prefixes=FIELD_PREFIXES)
    install_guard(app, Limiter(limits))

    @app.exception_handler(GridGovError)
    async def gridgov_error(request: Request, exc: GridGovError) -> Response:
        if request.url.path.startswith(FIELD_PREFIXES):
            retry = getattr(exc, "retry_after_s", None)
            headers = {"Retry-After": str(retry)} if retry is not None else None
            return field_error(http_status(exc), exc.code, exc.message, headers)
        return error(http_status(exc), exc.message, exc.code, _fmt(request))

    @app.exception_handler(BodyRefused)
    async def body_refused(request: Request, exc: BodyRefused) -> Response:
        return error(exc.status, str(exc), "bad_body", _fmt(request))

    @app.exception_handler(RateLimited)
    async def rate_limited(request: Request, exc: RateLimited) -> Response:
        if request.url.path.startswith(FIELD_PREFIXES):
            response = field_error(429, "rate_limited", str(exc))
        else:
            response = error(429, str(exc), "rate_limited", _fmt(request))
        response.headers["Retry-After"] = str(exc.retry_after_s)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        # Open311 answers 400 (not FastAPI's 422) for malformed requests; the message
        # names the field and why, never the value sent (it may be a name or a phone)
        first = exc.errors()[0] if exc.errors() else {}
        where = _where(first)
        if request.url.path.startswith(FIELD_PREFIXES):
            return field_error(400, "bad_request", f"{where}: {first.get('msg', 'invalid')}")
        return error(
            400, f"{where}: {first.get('msg', 'invalid request')}", "bad_request", _fmt(request)
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if request.url.path.startswith(FIELD_PREFIXES):
            return field_error(exc.status_code, "http_error", _field_detail(exc))
        return error(exc.status_code, str(exc.detail), "http_error", _fmt(request))

    return app


def _warming(
    engine: Engine | Callable[[], Engine], done: threading.Event
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The app's lifespan: at start-up the app answers one request of its own
    (:func:`_route_once`), and the database's connections are opened and a tile planned
    in each before the first map asks for its tiles (in the background: the server starts
    at once; ``done`` is set when that has ended)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await _route_once(app)
        threading.Thread(
            target=_warm, args=(engine, done), name="gridgov-warm", daemon=True
        ).start()
        yield

    return lifespan


START_PATH = "/.gridgov-start"
"""The path of the request the app answers itself at start-up (no route has it: 404)."""


async def _route_once(app: FastAPI) -> None:
    """Send one request through the app in process (a path no route has) so that FastAPI
    prepares its routes, trying every one, and imports what a first request needs now:
    a user's first request paid that (~50 ms at rest, ~110 ms beside a browser on two
    cores) and a map's first tiles all waited for it."""
    # an error in it is answered 500, as any request's would be: it never stops start-up
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=("127.0.0.1", 0))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        await client.get(START_PATH)


def _warm(engine: Engine | Callable[[], Engine], done: threading.Event) -> None:
    """Open the pool's connections, load PostGIS and plan a tile in each
    (``services.tiles.warm_pool``); a database not reachable yet is only logged (the
    first requests open their own)."""
    try:
        n = warm_pool(engine if isinstance(engine, Engine) else engine())
        log.info("warmed %d database connections", n)
    except (SQLAlchemyError, GridGovError) as exc:
        log.warning("database connections not warmed at start-up: %s", exc)
    finally:
        done.set()


def _where(first: dict) -> str:
    """The field a validation error is about (``actions.0.kind``; ``body`` for a body that
    is no JSON or missing)."""
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query"))
    if first.get("type") == "json_invalid" or not where:
        return "body"
    return where


def _field_detail(exc: StarletteHTTPException) -> str:
    detail = str(exc.detail)
    if exc.status_code == 400 and "parsing the body" in detail:
        return f"body: not JSON in UTF-8 ({detail})"
    return detail


def _serve_docs(app: FastAPI) -> None:
    if not (SWAGGER_DIR / "swagger-ui-bundle.js").is_file():
        raise DocsUnavailable(f"Swagger UI is not installed in {SWAGGER_DIR}; run make setup")
    app.mount("/docs-assets", StaticFiles(directory=SWAGGER_DIR), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=app.title,
            swagger_js_url="/docs-assets/swagger-ui-bundle.js",
            swagger_css_url="/docs-assets/swagger-ui.css",
            swagger_favicon_url="/docs-assets/favicon-32x32.png",
        )


def _fmt(request: Request) -> str:
    return "xml" if request.url.path.endswith(".xml") else "json"
