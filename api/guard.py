"""What every API answer gets: security headers, a per-address rate limit, no API key in
a URL, and errors that never carry a traceback, SQL or a reporter's data into the log.

Starlette's own error middleware logs an unexpected exception with its message — for a
database error that is the SQL and its parameters (a reporter's name and phone). The
guard catches it first, logs only the exception's type, the path and the SQLSTATE, and
answers Open311's 500 error list.
"""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders, QueryParams
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.limits import Limiter, RateLimited
from api.render import error
from api.webapps import PAGE_PREFIXES

LOG = logging.getLogger("gridgov.api")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-site",
    "Cache-Control": "no-store",
}
"""Headers of every answer (an API answer is data: nothing in it may run or be framed)."""
DOCS_CSP = (
    "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
)
"""The policy of ``/docs`` (when turned on): Swagger UI from this server only."""
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; worker-src 'self'; manifest-src 'self'; font-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
"""The policy of the web apps' pages (``/field/``, ``/report/``): everything from this
server, nothing inline, no plug-ins, never framed."""
_KEY_IN_URL = re.compile(r"(?i)((?:api_)?key=)[^&\s]*")
"""``api_key=…`` (refused in a URL) and ``key=…`` (the OsmAnd device token) in a logged URL."""


def install_guard(app: FastAPI, limiter: Limiter) -> None:
    """Add the guard middleware to ``app`` and keep API keys out of the access log."""
    logging.getLogger("uvicorn.access").addFilter(_redact_keys)
    app.add_middleware(Guard, limiter=limiter)


class Guard:
    """The guard as plain ASGI middleware (Starlette's ``BaseHTTPMiddleware`` cost about
    1.2 ms of CPU per request here: a quarter of a whole ``GET services.json``)."""

    def __init__(self, app: ASGIApp, limiter: Limiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")
        fmt = "xml" if path.endswith(".xml") else "json"
        docs = path == "/docs" or path.startswith("/docs-assets/")
        # an app's files, not its JSON (``/field/api/…`` stays data: no-store, no scripts)
        page = path.startswith(PAGE_PREFIXES) and "/api/" not in path
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    headers.setdefault(name, value)
                _page_headers(headers, docs=docs, page=page)
            await send(message)

        try:
            if "\x00" in path or "%00" in query.lower():
                # PostgreSQL text cannot hold NUL: refuse it here, not as a 500 from SQL
                response = error(400, "the URL contains a NUL character", "bad_request", fmt)
            elif "api_key" in QueryParams(query):
                response = error(
                    400,
                    "api_key must be sent in the form body, never in the URL (URLs are logged)",
                    "api_key_in_url",
                    fmt,
                )
            else:
                client = scope.get("client")
                self.limiter.address(client[0] if client else None)
                await self.app(scope, receive, send_with_headers)
                return
        except RateLimited as exc:
            response = error(429, str(exc), "rate_limited", fmt)
            response.headers["Retry-After"] = str(exc.retry_after_s)
        except Exception as exc:  # the last line: log safely, answer 500
            LOG.error(
                "unexpected %s on %s %s%s",
                type(exc).__name__,
                scope["method"],
                path,
                _sqlstate(exc),
            )
            if started:  # the answer is under way: nothing else can be sent
                return
            response = error(500, "internal error; the server log has its type", "internal", fmt)
        await response(scope, receive, send_with_headers)


def _page_headers(headers: MutableHeaders, *, docs: bool, page: bool) -> None:
    if docs:
        headers["Content-Security-Policy"] = DOCS_CSP
    elif page:
        # a page or its asset: revalidated (ETag) rather than never stored, so the service
        # worker and the browser cache can keep the app for offline use
        headers["Content-Security-Policy"] = PAGE_CSP
        if headers.get("Cache-Control") == "no-store":
            headers["Cache-Control"] = "no-cache"


def _sqlstate(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    state = getattr(orig, "sqlstate", None) or getattr(exc, "sqlstate", None)
    return f" (SQLSTATE {state})" if state else ""


def _redact_keys(record: logging.LogRecord) -> bool:
    """Access-log filter: ``api_key=…`` in a logged URL becomes ``api_key=[redacted]``."""
    if isinstance(record.args, tuple):
        record.args = tuple(
            _KEY_IN_URL.sub(r"\1[redacted]", a) if isinstance(a, str) else a for a in record.args
        )
    return True
