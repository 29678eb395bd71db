"""HTTP headers of the dashboard and the endpoints it does not expose.

Streamlit has no setting for response headers. Since 1.5x Streamlit can run as an ASGI
app (``streamlit.starlette.App``) with our own middleware: ``dashboard_server.py``
wraps ``app.py`` with :class:`DashboardGuard`, and ``gridgov serve`` runs that.

- every answer: ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: SAMEORIGIN``
  (the map is a same-origin component frame), ``Referrer-Policy: no-referrer`` and a
  Content-Security-Policy that stops framing by other sites, plugins, ``<base>``
  hijacking and images from anywhere but this server and the configured base map
  (a planted remote image would not load even if it reached the page);
- ``/_stcore/metrics`` (Streamlit's Prometheus metrics) answers 404 unless
  ``GRIDGOV_DASHBOARD_METRICS=1``.

Scripts are not restricted by the policy: Streamlit's front end and folium's maps use
inline scripts; escaping user text (``dashboard.safe_text``) is what stops script.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

HIDDEN_PATHS = ("/_stcore/metrics",)
BASE_MAP_HOSTS = ("https://tile.openstreetmap.org", "https://*.tianditu.gov.cn")


def content_security_policy() -> str:
    """The dashboard's policy, with the intranet tile server's origin when configured."""
    images = ["'self'", "data:", "blob:", *BASE_MAP_HOSTS]
    if tile_url := os.environ.get("GRIDGOV_TILE_URL"):
        parts = urlsplit(tile_url.replace("{", "").replace("}", ""))
        if parts.scheme and parts.netloc:
            images.append(f"{parts.scheme}://{parts.netloc}")
    return (
        f"img-src {' '.join(images)}; frame-ancestors 'self'; object-src 'none'; "
        "base-uri 'self'; form-action 'self'"
    )


def security_headers() -> list[tuple[bytes, bytes]]:
    """The headers every dashboard answer gets."""
    return [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"SAMEORIGIN"),
        (b"referrer-policy", b"no-referrer"),
        (b"content-security-policy", content_security_policy().encode()),
    ]


class DashboardGuard:
    """ASGI middleware: security headers on every HTTP answer, hidden endpoints 404."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.headers = security_headers()
        self.metrics = os.environ.get("GRIDGOV_DASHBOARD_METRICS") == "1"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if not self.metrics and scope["path"].rstrip("/") in HIDDEN_PATHS:
            await self._not_found(send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in self.headers if k not in names]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)

    async def _not_found(self, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 404,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), *self.headers],
            }
        )
        await send({"type": "http.response.body", "body": b"not found"})
