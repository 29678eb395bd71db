"""The installable web apps, served by the API itself (no CDN, no separate web server).

- ``/field/``  — grid workers' and department handlers' phone app (``webapps/field/``);
- ``/report/`` — residents' app: report, follow, rate (``webapps/report/``);
- ``/webapps/common/`` — code both apps share (the offline outbox, zh/en text);
- ``/vendor/`` — the pinned npm packages (``frontend/package-lock.json``), copied to
  ``static/vendor/`` by ``scripts/build_assets.sh`` at set-up.

Each app's service worker (``sw.js`` in its directory) caches the shell so the app opens
with no network after the first visit. Pages get their own security policy from the guard
(:data:`api.guard.PAGE_CSP`): scripts and styles from this server only, nothing inline.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp

ROOT = Path(__file__).resolve().parent.parent
WEBAPPS_DIR = ROOT / "webapps"
VENDOR_DIR = ROOT / "static" / "vendor"
APPS = ("field", "report")
"""The web apps, each a directory of ``webapps/`` served at ``/<name>/``."""
PAGE_PREFIXES = (*(f"/{name}/" for name in APPS), "/webapps/common/", "/vendor/")
"""Paths whose answers are pages or page assets (the guard gives them :data:`PAGE_CSP`)."""


def mount_webapps(app: FastAPI) -> None:
    """Serve every web app, the shared code and the vendored packages under ``app``.

    The apps' own JSON endpoints are routers of their modules (mounted before this, so
    that ``/field/api/…`` is not taken for a file).
    """
    for name in APPS:
        _redirect(app, name)
        app.mount(
            f"/{name}",
            _gzipped(StaticFiles(directory=WEBAPPS_DIR / name, html=True, check_dir=False)),
            name=f"webapp-{name}",
        )
    app.mount(
        "/webapps/common",
        _gzipped(StaticFiles(directory=WEBAPPS_DIR / "common", check_dir=False)),
        name="webapp-common",
    )
    app.mount(
        "/vendor", _gzipped(StaticFiles(directory=VENDOR_DIR, check_dir=False)), name="vendor"
    )


def _gzipped(files: StaticFiles) -> ASGIApp:
    """Files compressed on the way out when the browser accepts it: on a phone's slow-3G
    link every kilobyte of the first load is ~20 ms (Leaflet: 145 KB raw, 41 KB gzipped)."""
    return GZipMiddleware(files, minimum_size=1024, compresslevel=6)


def _redirect(app: FastAPI, name: str) -> None:
    async def to_app() -> RedirectResponse:
        return RedirectResponse(f"/{name}/", status_code=308)

    app.add_api_route(f"/{name}", to_app, include_in_schema=False)
