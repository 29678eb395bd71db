"""The FastAPI application: Open311 under ``/open311/v2``, errors in Open311's format."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from sqlalchemy.engine import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.open311 import build_router
from api.render import error
from layers.workflow.errors import WorkflowError


def create_app(engine: Engine | Callable[[], Engine] | None = None) -> FastAPI:
    """The API app on ``engine`` (default: the configured GridGov database, on first use)."""
    if engine is None:
        from layers.db import get_app_engine

        engine = get_app_engine
    app = FastAPI(
        title="GridGov Open311 GeoReport v2",
        version="0.1.0",
        description=(
            "Report problems to the city and follow them: Open311 GeoReport v2 "
            "(services, requests) with a bounding-box filter and paging. Coordinates may be "
            "declared as WGS 84, GCJ-02 or BD-09 (attribute[datum]); POST needs an api_key."
        ),
    )
    app.include_router(build_router(engine), prefix="/open311/v2")

    @app.exception_handler(WorkflowError)
    async def workflow_error(request: Request, exc: WorkflowError) -> Response:
        return error(exc.http_status, exc.message, exc.code, _fmt(request))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        # Open311 answers 400 (not FastAPI's 422) for malformed requests
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query"))
        return error(
            400, f"{where}: {first.get('msg', 'invalid request')}", "bad_request", _fmt(request)
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return error(exc.status_code, str(exc.detail), "http_error", _fmt(request))

    return app


def _fmt(request: Request) -> str:
    return "xml" if request.url.path.endswith(".xml") else "json"
