"""The tile map in real headless Chromium: folium + Leaflet.VectorGrid from the app's own
vendored copy, tiles from the API over loopback, a click selects a case by its id."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import folium
import pytest
import sqlalchemy as sa

from api import create_app
from api.limits import RateLimits
from dashboard import maps, tile_map
from services.tiles import Scope, tile_access
from tests.api.server import serving
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, LOCAL_PREFIXES

LOADED = """() => {
    const map = Object.values(window).find(v => { try { return v instanceof L.Map; }
                                                  catch (e) { return false; } });
    let busy = 0, n = 0;
    map.eachLayer(l => { if (l._url && l._url.includes('/tiles/')) {
        n++; if (l.isLoading()) busy++; } });
    return n === 4 && busy === 0; }"""
"""Every tile layer of the map has loaded the tiles in view."""
STATIC = Path(__file__).resolve().parents[2] / "static"
ARTIFACTS = Path(__file__).resolve().parents[2] / "tests" / "artifacts"


class _Static(http.server.SimpleHTTPRequestHandler):
    page = b""

    def do_GET(self) -> None:
        if self.path == "/map.html":
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(self.page)
        elif self.path.startswith("/app/static/"):
            self.path = self.path[len("/app/static") :]
            super().do_GET()
        else:
            self.send_error(404)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def api_url(demo_app_url):
    engine = sa.create_engine(demo_app_url)
    with serving(create_app(engine, limits=RateLimits(per_address=None, per_key=None))) as url:
        yield url
    engine.dispose()


@pytest.fixture
def static_server():
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Static, directory=str(STATIC))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_the_tile_map_draws_offline_and_a_click_selects_the_case(
    api_url, static_server, demo_engine
):
    from playwright.sync_api import sync_playwright

    with demo_engine.connect() as conn:
        case_id, lon, lat = conn.execute(
            sa.text("""
            SELECT id, ST_X(geom), ST_Y(geom) FROM cases
            WHERE status IN ('reported', 'accepted', 'registered', 'dispatched', 'in_handling',
                             'suspended', 'handled', 'checked')
            ORDER BY id LIMIT 1""")
        ).one()
    m = folium.Map(location=[lat, lon], zoom_start=18, tiles=None)
    tile_map.add_tile_layers(m, tile_access(Scope("operator", username="operator"),
                                            api_url=api_url), lang="zh")  # fmt: skip
    _Static.page = maps.finish(m).get_root().render().encode()
    assert b"unpkg.com" not in _Static.page and b"cdn" not in _Static.page.lower()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 800, "height": 600})
        outside: list[str] = []
        tiles: list[int] = []
        page.on(
            "request",
            lambda r: None if r.url.startswith(LOCAL_PREFIXES) else outside.append(r.url),
        )
        page.on("response", lambda r: tiles.append(r.status) if "/tiles/" in r.url else None)
        page.goto(f"{static_server}/map.html", wait_until="networkidle")
        page.wait_for_function(LOADED, timeout=30_000)
        assert page.locator(".leaflet-tile-container canvas").count() > 0
        assert tiles and set(tiles) == {200}
        # a listener after the map's own: what streamlit-folium reads on a click
        page.evaluate("""() => {
            const map = Object.values(window).find(v => { try { return v instanceof L.Map; }
                                                          catch (e) { return false; } });
            map.eachLayer(l => { if (l._url && l._url.includes('/tiles/cases/')) {
                l.on('click', e => { window.__picked = e.layer.toGeoJSON(); }); } });
        }""")
        page.mouse.click(400, 300)
        picked = page.wait_for_function("() => window.__picked", timeout=10_000).json_value()
        page.screenshot(path=str(ARTIFACTS / "tile_map.png"))
        browser.close()
    assert maps.selected_id({"last_active_drawing": picked}, "case") == str(case_id)
    assert outside == []


def test_a_bounded_tile_map_asks_for_no_tile_outside_its_bounds(
    api_url, static_server, demo_engine
):
    from playwright.sync_api import sync_playwright

    with demo_engine.connect() as conn:
        lon, lat = conn.execute(
            sa.text("SELECT ST_X(geom), ST_Y(geom) FROM cases ORDER BY id LIMIT 1")
        ).one()
    box = (lon - 0.0002, lat - 0.0002, lon + 0.0002, lat + 0.0002)  # ~40 m: one or few tiles
    access = tile_access(Scope("operator", username="operator"), api_url=api_url)
    asked: dict[str, list[tuple[int, int, int]]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for name, bounds in (("unbounded", None), ("bounded", box)):
            m = folium.Map(location=[lat, lon], zoom_start=17, tiles=None)
            tile_map.add_tile_layers(m, access, lang="zh", layers=tile_map.LIVE_LAYERS,
                                     combine=True, tile_size=512, bounds=bounds)  # fmt: skip
            _Static.page = maps.finish(m).get_root().render().encode()
            page = browser.new_page(viewport={"width": 800, "height": 600})
            seen: list[tuple[int, int, int]] = []
            page.on("request", functools.partial(_note_tile, seen))
            page.goto(f"{static_server}/map.html", wait_until="networkidle")
            page.wait_for_function(LOADED.replace("n === 4", "n === 1"), timeout=30_000)
            asked[name] = seen
            page.close()
        browser.close()
    assert 0 < len(asked["bounded"]) < len(asked["unbounded"])
    for z, x, y in asked["bounded"]:  # each asked tile touches the box
        west, north = _lon_lat(x, y, z)
        east, south = _lon_lat(x + 1, y + 1, z)
        assert west <= box[2] and east >= box[0] and south <= box[3] and north >= box[1]


def _note_tile(seen: list[tuple[int, int, int]], request) -> None:  # type: ignore[no-untyped-def]
    if "/tiles/" in request.url:
        z, x, y = request.url.split("?")[0].removesuffix(".pbf").split("/")[-3:]
        seen.append((int(z), int(x), int(y)))


def _lon_lat(x: float, y: float, z: int) -> tuple[float, float]:
    import math

    n = 2**z
    return x / n * 360 - 180, math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * y / n))))
