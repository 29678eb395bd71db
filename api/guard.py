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
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.responses import Response

from api.limits import Limiter, RateLimited
from api.render import error

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
_KEY_IN_URL = re.compile(r"(?i)(api_key=)[^&\s]*")


def install_guard(app: FastAPI, limiter: Limiter) -> None:
    """Add the guard middleware to ``app`` and keep API keys out of the access log."""
    logging.getLogger("uvicorn.access").addFilter(_redact_keys)

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Response]]):
        fmt = "xml" if request.url.path.endswith(".xml") else "json"
        try:
            if "\x00" in request.url.path or "%00" in str(request.url.query).lower():
                # PostgreSQL text cannot hold NUL: refuse it here, not as a 500 from SQL
                response = error(400, "the URL contains a NUL character", "bad_request", fmt)
            elif "api_key" in request.query_params:
                response = error(
                    400,
                    "api_key must be sent in the form body, never in the URL (URLs are logged)",
                    "api_key_in_url",
                    fmt,
                )
            else:
                limiter.address(request.client.host if request.client else None)
                response = await call_next(request)
        except RateLimited as exc:
            response = error(429, str(exc), "rate_limited", fmt)
            response.headers["Retry-After"] = str(exc.retry_after_s)
        except Exception as exc:  # the last line: log safely, answer 500
            LOG.error(
                "unexpected %s on %s %s%s",
                type(exc).__name__,
                request.method,
                request.url.path,
                _sqlstate(exc),
            )
            response = error(500, "internal error; the server log has its type", "internal", fmt)
        path = request.url.path
        docs = path == "/docs" or path.startswith("/docs-assets/")
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if docs:
            response.headers["Content-Security-Policy"] = DOCS_CSP
        return response


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
