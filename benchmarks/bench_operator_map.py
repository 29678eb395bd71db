"""The operator map at city scale: vector tiles against today's GeoJSON layer, same run.

Database: ``gridgov_bench_tiles`` on the configured server (kept for re-runs, ``--reload``
to rebuild): a demo district whose cases are topped up by COPY (``layers.bulk``) to
``--cases`` (default 1,000,000), of which exactly ``--open`` (default 50,000) are open.

Measured, in headless Chromium on loopback (the API by uvicorn in this process, the
pages and the vendored scripts by ``python -m http.server`` in a child process):

- baseline, today's operator map: ``operator_desk`` (the page's call, ≤ 2,000 open cases)
  drawn by ``maps.add_open_cases`` as GeoJSON — server time (call + build + render),
  first render in the browser (navigation until Leaflet holds the features), bytes;
- tiles: the same map drawn as the live page draws it, ``dashboard.tile_map.
  add_tile_layers(combine=True)`` with ``tile_map.LIVE_LAYERS`` (base map, communities,
  every open case in one tile layer: one request per tile) and ``LIVE_TILE_SIZE``; and
  ``tiles_main`` main's bench page of stop 24 (base map, communities, grids, cases in
  256-px tiles) — server time to build the page, first render
  (navigation until every tile layer has loaded its tiles), bytes (page + every tile),
  and how many open cases the drawn tiles hold (sum of the aggregates' counts);
- tile latency on loopback: every tile of the district at zooms 12–17 (cases, open),
  fetched one after another over HTTP: p50, p95, max.

Run: ``uv run python benchmarks/bench_operator_map.py [--cases 1000000 --open 50000]``.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import render_breakdown as rb  # noqa: E402 (beside this file)

from api import create_app  # noqa: E402
from api import tiles as api_tiles  # noqa: E402
from api.limits import RateLimits  # noqa: E402
from city import time_zone  # noqa: E402
from dashboard import maps, tile_map  # noqa: E402
from gis.demo import generate_district  # noqa: E402
from layers import migrate  # noqa: E402
from layers.bulk import copy_frame, point_ewkb  # noqa: E402
from layers.catalogue import read_categories  # noqa: E402
from layers.db import MAX_OVERFLOW, POOL_SIZE, database_url  # noqa: E402
from layers.demo import load_demo, loaded_demo  # noqa: E402
from layers.tiles import OPEN_STATUSES  # noqa: E402
from layers.workflow.access import Scope  # noqa: E402
from services.operator import operator_desk  # noqa: E402
from services.tiles import tile_access  # noqa: E402
from tests.api.server import free_port, serving  # noqa: E402
from tests.layers.mvt import tile_of  # noqa: E402

DB = "gridgov_bench_tiles"
TILE_PAGES = {
    "tiles": {"layers": tile_map.LIVE_LAYERS, "tile_size": tile_map.LIVE_TILE_SIZE},
    "tiles_main": {"layers": tile_map.DEFAULT_LAYERS, "tile_size": 256},
}
"""The tile maps drawn: the live page's (its layers and tile size), and main's bench page
(base map, communities, grids, cases in 256-px tiles) for the before/after comparison."""
OPERATOR = Scope("operator", username="operator")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CLOSED = ("closed", "rated", "archived")


def prepare(n_cases: int, n_open: int, reload: bool) -> sa.Engine:
    """The benchmark database: a demo district, cases topped up to ``n_cases``, ``n_open`` open."""
    admin = sa.create_engine(database_url(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": DB}
        ).scalar()
        if reload and exists:
            conn.execute(sa.text(f'DROP DATABASE "{DB}" WITH (FORCE)'))
            exists = False
        if not exists:
            conn.execute(sa.text(f'CREATE DATABASE "{DB}"'))
    admin.dispose()
    engine = sa.create_engine(database_url(database=DB))
    migrate.upgrade(engine)
    with engine.connect() as conn:
        meta = loaded_demo(conn)
        have = int(conn.execute(sa.text("SELECT count(*) FROM cases")).scalar() or 0)
    if meta and have >= n_cases:
        print(f"database {DB}: {have:,} cases already loaded")
        return engine
    started = time.perf_counter()
    district = generate_district(
        read_categories(),
        seed=42,
        n_cases=20_000,
        as_of=pd.Timestamp.now(tz=time_zone().key).normalize() + pd.Timedelta(hours=18),
    )
    with engine.begin() as conn:
        load_demo(conn, district, replace=True)
        added = _top_up(conn, n_cases, n_open)
    with engine.begin() as conn:  # committed: statistics are rolled back with a transaction
        conn.exec_driver_sql("ANALYZE")
    print(f"loaded in {time.perf_counter() - started:.0f} s ({added:,} cases added by COPY)")
    return engine


def _top_up(conn: sa.Connection, n_cases: int, n_open: int) -> int:
    """COPY synthetic cases into the district's communities until there are ``n_cases``
    of which ``n_open`` open (the demo's own open cases count)."""
    have, have_open = conn.execute(
        sa.text("SELECT count(*), count(*) FILTER (WHERE status = ANY (:o)) FROM cases"),
        {"o": list(OPEN_STATUSES)},
    ).one()
    n = n_cases - have
    n_new_open = max(0, n_open - have_open)
    communities = pd.read_sql(
        sa.text("SELECT id, left(code, 9) AS street, ST_AsBinary(geom) AS wkb FROM communities"),
        conn,
    )
    categories = conn.execute(
        sa.text("SELECT id FROM categories WHERE level = 2 ORDER BY id")
    ).scalars()
    category_ids = np.array(list(categories))
    rng = np.random.default_rng(7)
    polygons = shapely.from_wkb(communities.wkb.map(bytes).to_numpy())
    union = shapely.union_all(polygons)
    minx, miny, maxx, maxy = union.bounds
    lon, lat = np.empty(0), np.empty(0)
    while len(lon) < n:
        x = rng.uniform(minx, maxx, n)
        y = rng.uniform(miny, maxy, n)
        inside = shapely.contains_xy(union, x, y)
        lon, lat = np.concatenate([lon, x[inside]]), np.concatenate([lat, y[inside]])
    lon, lat = lon[:n], lat[:n]
    tree = shapely.STRtree(polygons)
    point_idx, poly_idx = tree.query(shapely.points(lon, lat), predicate="within")
    which = np.zeros(n, dtype=int)
    which[point_idx] = poly_idx
    now = pd.Timestamp.now(tz="UTC")
    reported = now - pd.to_timedelta(rng.uniform(0, 3 * 365 * 24, n), unit="h")
    status = np.array(CLOSED, dtype=object)[rng.integers(0, 3, n)]
    open_at = rng.choice(n, n_new_open, replace=False)
    status[open_at] = np.array(OPEN_STATUSES, dtype=object)[rng.integers(0, 8, n_new_open)]
    reported_open = now - pd.to_timedelta(rng.uniform(0, 20 * 24, n_new_open), unit="h")
    reported = reported.to_numpy().copy()
    reported[open_at] = reported_open.to_numpy()
    is_open = np.isin(status, OPEN_STATUSES)
    reported_ts = pd.to_datetime(reported, utc=True)
    frame = pd.DataFrame(
        {
            "case_no": [f"B{i:010d}" for i in range(n)],
            "category_id": category_ids[rng.integers(0, len(category_ids), n)],
            "street_code": communities.street.to_numpy()[which],
            "community_id": communities.id.to_numpy()[which],
            "source": "import",
            "status": status,
            "urgency": np.where(rng.random(n) < 0.03, "urgent", "normal"),
            "reported_at": reported_ts,
            "deadline_at": reported_ts + pd.Timedelta(days=3),
            "closed_at": pd.Series(reported_ts + pd.Timedelta(days=2)).where(~is_open),
            "source_system": "bench",
            "source_id": [str(i) for i in range(n)],
            "geom": point_ewkb(lon, lat),
        }
    )
    return copy_frame(conn, "cases", frame)


@contextmanager
def static_server(pages: dict[str, bytes]) -> Iterator[str]:
    """The pages (``/{name}.html``) and GridGov's vendored scripts (``/app/static/…``)
    served by ``python -m http.server`` in a child process; its base URL. Apart from the
    API's process, as Streamlit serves the live page apart from ``gridgov api``: in one
    process the page's scripts and the tiles queued behind each other for one GIL."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, html in pages.items():
            (root / f"{name}.html").write_bytes(html)
        (root / "app").mkdir()
        (root / "app" / "static").symlink_to(ROOT / "static")
        port = free_port()
        command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
        proc = subprocess.Popen(
            [*command, "--directory", str(root)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise RuntimeError("the static server did not start") from None
                    time.sleep(0.05)
            yield url
        finally:
            proc.terminate()
            proc.wait(10)


def build_pages(engine: sa.Engine, api_url: str) -> dict[str, tuple[bytes, float, int]]:
    """Both maps as HTML: (page, server seconds, features drawn or -1)."""
    now = datetime.now(time_zone())
    started = time.perf_counter()
    desk = operator_desk(engine, scope=Scope("operator"), now=now)
    m = maps.new_map(desk.extent)
    maps.add_communities(m, desk.communities, "zh")
    maps.add_open_cases(m, desk.queue, "zh")
    geojson = maps.finish(m).get_root().render().encode()
    geojson_s = time.perf_counter() - started
    pages = {"geojson": (geojson, geojson_s, len(desk.queue))}
    access = tile_access(OPERATOR, api_url=api_url)
    for name, options in TILE_PAGES.items():
        started = time.perf_counter()
        m = maps.new_map(desk.extent)
        # the live page's own call bounds its tiles by the desk's extent; main's did not
        bounds = desk.extent if name == "tiles" else None
        tile_map.add_tile_layers(m, access, lang="zh", combine=True, bounds=bounds, **options)  # type: ignore[arg-type]
        html = maps.finish(m).get_root().render().encode()
        pages[name] = (html, time.perf_counter() - started + _extent_s(engine), -1)
    return pages


def _extent_s(engine: sa.Engine) -> float:
    # the tile page still needs the area's extent and nothing else: time that read
    from services.areas import area_extents

    started = time.perf_counter()
    area_extents(engine, scope=Scope("operator"))
    return time.perf_counter() - started


COUNT_GEOJSON = """() => {
  const key = Object.keys(window).find(k => { try { return window[k] instanceof L.Map; }
                                              catch (e) { return false; } });
  if (!key) return -1;
  let n = 0; window[key].eachLayer(l => { if (l.feature) n++; });
  if (n > 0) { DONE_MARK } return n; }""".replace("DONE_MARK", rb.DONE_MARK)


TILES_LOADED = """() => {
  const map = Object.values(window).find(v => { try { return v instanceof L.Map; }
                                                catch (e) { return false; } });
  let busy = 0, n = 0;
  map.eachLayer(l => { if (l._url && l._url.includes('/tiles/')) {
    n++; if (l.isLoading()) busy++; } });
  if (n > 0 && busy === 0) { DONE_MARK return true; }
  return false; }""".replace("DONE_MARK", rb.DONE_MARK)
CASES_DRAWN = """() => {
  const map = Object.values(window).find(v => { try { return v instanceof L.Map; }
                                                catch (e) { return false; } });
  let drawn = 0;
  map.eachLayer(l => { if (l._url && l._url.includes('/tiles/')) {
    const z = String(map.getZoom());  // the tiles of the view's zoom only
    for (const key in l._vectorTiles) { if (key.split(':')[2] !== z) continue;
      const f = l._vectorTiles[key]._features || {};
      for (const id in f) { if (f[id].layerName !== 'cases') continue;
        drawn += f[id].feature.properties.count || 1; } } } });
  return drawn; }"""


def first_render(
    static_url: str,
    page: str,
    clock: rb.TileServerClock | rb.FileClock | None = None,
    *,
    profile: bool = False,
) -> dict[str, Any]:
    """Navigation until the map is drawn; bytes of the page and of every tile; where the
    time went (``render_breakdown``; with ``profile`` a second, profiled load)."""
    from playwright.sync_api import sync_playwright

    sizes: dict[str, int] = {"page": 0, "tiles": 0, "assets": 0, "n_tiles": 0}
    statuses: set[int] = set()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        ctx = browser.new_context(viewport={"width": 1280, "height": 800})
        tab = ctx.new_page()

        def finished(request) -> None:  # type: ignore[no-untyped-def]
            body = request.sizes()["responseBodySize"]
            if "/tiles/" in request.url:
                sizes["tiles"] += body
                sizes["n_tiles"] += 1
                response = request.response()
                statuses.add(response.status if response else 0)
            elif request.url.endswith(f"/{page}.html"):
                sizes["page"] += body
            else:
                sizes["assets"] += body

        tab.on("requestfinished", finished)
        cdp = rb.start_metrics(tab)
        if clock is not None:
            clock.take()
        started = time.perf_counter()
        tab.goto(f"{static_url}/{page}.html", wait_until="load")
        if page == "geojson":
            tab.wait_for_function(f"({COUNT_GEOJSON})() > 0", timeout=120_000)
        else:
            tab.wait_for_function(TILES_LOADED, timeout=120_000)
        elapsed = time.perf_counter() - started
        cpu = rb.main_thread(cdp)
        timeline = rb.browser_timeline(tab)
        server = clock.take() if clock is not None else {}
        features = tab.evaluate(COUNT_GEOJSON if page == "geojson" else CASES_DRAWN)
        zoom = tab.evaluate(
            "() => Object.values(window).find(v => { try { return v instanceof L.Map; }"
            " catch (e) { return false; } }).getZoom()"
        )
        tab.wait_for_timeout(1000)  # answers still under way are counted too
        scripts: list[tuple[str, float]] = []
        if profile:
            second = ctx.new_page()

            def again() -> None:
                second.goto(f"{static_url}/{page}.html", wait_until="load")
                second.wait_for_function(
                    f"({COUNT_GEOJSON})() > 0" if page == "geojson" else TILES_LOADED,
                    timeout=120_000,
                )

            scripts = rb.script_profile(second.context.new_cdp_session(second), again)
        browser.close()
    assert page == "geojson" or statuses == {200}, statuses
    return {
        "seconds": elapsed,
        "page_bytes": sizes["page"],
        "tile_bytes": sizes["tiles"],
        "asset_bytes": sizes["assets"],
        "features": features,
        "tiles": sizes["n_tiles"],
        "zoom": zoom,
        "breakdown": rb.describe(
            page,
            timeline,
            server or {"n": 0, "sum_ms": 0, "p50_ms": 0, "max_ms": 0, "span_s": 0},
            cpu,
        ),
        "scripts": scripts,
    }


def tile_latency(client, engine: sa.Engine, token: str, layer: str = "cases") -> list[float]:  # type: ignore[no-untyped-def]
    """Milliseconds of every open-case tile (of ``layer``) of the district at zooms 12–17."""
    with engine.connect() as conn:
        minx, miny, maxx, maxy = conn.execute(
            sa.text("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                    "(SELECT ST_Extent(geom)::geometry AS e FROM communities) s")
        ).one()  # fmt: skip
    out = []
    for z in range(12, 18):
        x0, y1 = tile_of(minx, miny, z)
        x1, y0 = tile_of(maxx, maxy, z)
        for x in range(x0, x1 + 1):
            for y in range(y0, y1 + 1):
                started = time.perf_counter()
                answer = client.get(f"/tiles/{layer}/{z}/{x}/{y}.pbf", params={"token": token})
                out.append((time.perf_counter() - started) * 1000)
                assert answer.status_code == 200, answer.text
    return out


def _print_combined(ms_all: list[float], results: dict[str, dict[str, float]]) -> None:
    t, old = results["tiles"], results["tiles_main"]
    ms_all.sort()
    print(
        f"combined tiles ({','.join(tile_map.LIVE_LAYERS)}, the page's): "
        f"p50 {statistics.median(ms_all):.1f} ms, p95 {ms_all[int(0.95 * (len(ms_all) - 1))]:.1f}"
        f" ms, max {ms_all[-1]:.1f} ms"
    )
    print(
        f"the live page's tiles vs main's bench page (4 layers, 256 px): first render "
        f"{t['seconds']:.2f} s vs {old['seconds']:.2f} s ({t['seconds'] / old['seconds']:.2f}x), "
        f"{t['tiles']} vs {old['tiles']} requests"
    )
    g, tw, ow = results["geojson"], results["tiles_warm"], results["tiles_main_warm"]
    print(
        f"warm (second pass): the live page's tiles {tw['seconds']:.2f} s "
        f"({tw['seconds'] / g['seconds']:.2f}x GeoJSON), main's {ow['seconds']:.2f} s "
        f"({ow['seconds'] / g['seconds']:.2f}x)"
    )


def _print_breakdown(results: dict[str, dict[str, Any]]) -> None:
    print("where the first render goes (ms from navigation start):")
    for r in results.values():
        print(r["breakdown"])
        if r["scripts"]:
            print("    JS self time (profiled load): " + ", ".join(
                f"{name} {ms:.0f} ms" for name, ms in r["scripts"]))  # fmt: skip


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--open", type=int, default=50_000)
    parser.add_argument("--reload", action="store_true")
    parser.add_argument("--profile", action="store_true", help="also JS self time per script")
    parser.add_argument(
        "--api-process",
        action="store_true",
        help="serve the API in a process of its own, as gridgov api runs, instead of in "
        "this one beside the browser's driver (stop 31: no difference beyond the runs' own)",
    )
    parser.add_argument("--serve-api", nargs=2, metavar=("PORT", "SPANS"), help=argparse.SUPPRESS)
    return parser.parse_args()


def _app() -> tuple[Any, sa.Engine]:
    """The API on the bench database as ``gridgov api`` has it (``layers.db.engine_for``'s
    pool; its lifespan opens and warms the connections), without rate limits."""
    app_engine = sa.create_engine(
        database_url(database=DB), pool_pre_ping=True, pool_size=POOL_SIZE,
        max_overflow=MAX_OVERFLOW,
    )  # fmt: skip
    return create_app(app_engine, limits=RateLimits(per_address=None, per_key=None)), app_engine


def serve_api(port: int, spans: Path) -> None:
    """``--serve-api PORT SPANS`` (the child of :func:`api_process`): serve the API on
    ``port``, append each tile's ``start end`` to ``SPANS`` and write ``SPANS.ready`` once
    the connections are warmed."""
    import uvicorn

    app, _ = _app()
    original, lock = api_tiles.tile_bytes, threading.Lock()
    out = spans.open("a")

    def timed(*args: Any, **kwargs: Any) -> bytes:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            with lock:
                out.write(f"{started} {time.perf_counter()}\n")
                out.flush()

    api_tiles.tile_bytes = timed

    def ready() -> None:
        app.state.warmed.wait(60)
        spans.with_suffix(".ready").write_text("warmed")

    threading.Thread(target=ready, daemon=True).start()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")


@contextmanager
def api_process() -> Iterator[tuple[str, rb.FileClock]]:
    """The API in a process of its own (``--api-process``), as ``gridgov api`` serves the
    live page: apart from Streamlit, and here apart from Playwright's driver, whose event
    handling shares this process's interpreter with an API served here; its URL and clock."""
    with tempfile.TemporaryDirectory() as tmp:
        spans = Path(tmp) / "spans"
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve-api", str(port), str(spans)],
            cwd=ROOT,
        )
        try:
            deadline = time.monotonic() + 120
            while not spans.with_suffix(".ready").exists():
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("the API process did not start")
                time.sleep(0.1)
            spans.write_text("")  # the warming's own tiles are not the pages'
            yield f"http://127.0.0.1:{port}", rb.FileClock(spans)
        finally:
            proc.terminate()
            proc.wait(20)


@contextmanager
def api_here() -> Iterator[tuple[str, rb.TileServerClock]]:
    """The API served in this process (the default); its URL and clock."""
    app, app_engine = _app()
    try:
        with serving(app, lifespan="on") as api_url, rb.TileServerClock(api_tiles) as clock:
            app.state.warmed.wait(60)
            clock.take()  # the warming's own tiles are not the pages'
            yield api_url, clock
    finally:
        app_engine.dispose()


def main() -> None:
    args = _args()
    if args.serve_api:
        serve_api(int(args.serve_api[0]), Path(args.serve_api[1]))
        return
    # first renders computed tile by tile: the API's few-second tile cache off
    os.environ["GRIDGOV_TILE_CACHE_S"] = "0"
    import httpx

    start_load = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout
    print(f"load average at the start (a shared machine): {start_load.strip()}")
    engine = prepare(args.cases, args.open, args.reload)
    with engine.connect() as conn:
        total, n_open = conn.execute(
            sa.text("SELECT count(*), count(*) FILTER (WHERE status = ANY (:o)) FROM cases"),
            {"o": list(OPEN_STATUSES)},
        ).one()
    print(f"cases: {total:,}, open: {n_open:,}")
    where = "in a process of its own" if args.api_process else "in this process"
    print(f"the API is served {where}")
    try:
        with api_process() if args.api_process else api_here() as (api_url, clock):
            pages = build_pages(engine, api_url)
            html = {name: page for name, (page, _, _) in pages.items()}
            with static_server(html) as static_url:
                results = {
                    name: first_render(static_url, name, clock, profile=args.profile)
                    for name in pages
                }
                # again, in the same order: the database's pages now warm for every map
                # (the first pass favours the maps after the first); no server cache
                for name in TILE_PAGES:
                    results[f"{name}_warm"] = first_render(static_url, name, clock)
            with httpx.Client(base_url=api_url, timeout=60) as client:
                token = tile_access(OPERATOR, api_url=api_url).token
                ms = tile_latency(client, engine, token)
                ms_all = tile_latency(client, engine, token, ",".join(tile_map.LIVE_LAYERS))
    finally:
        engine.dispose()
    load = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout
    g, t = results["geojson"], results["tiles"]
    print(f"\nload average at the end: {load.strip()}")
    for name, r in results.items():
        sent = r["page_bytes"] + r["tile_bytes"]
        print(
            f"{name:8} server {pages[name.removesuffix('_warm')][1]:6.2f} s | first render "
            f"{r['seconds']:6.2f} s "
            f"(zoom {r['zoom']}) | "
            f"open cases drawn {r['features']:>7,} | page {r['page_bytes'] / 1e6:6.2f} MB + "
            f"tiles {r['tile_bytes'] / 1e6:6.2f} MB ({r['tiles']} tiles) = {sent / 1e6:6.2f} MB "
            f"(+ {r['asset_bytes'] / 1e6:.2f} MB scripts/styles)"
        )
    _print_breakdown(results)
    ratio_time = t["seconds"] / g["seconds"]
    ratio_features = t["features"] / max(g["features"], 1)
    sent_t = (t["page_bytes"] + t["tile_bytes"]) / 1e6
    sent_g = (g["page_bytes"] + g["tile_bytes"]) / 1e6
    print(
        f"ratio tiles/geojson: first render {ratio_time:.2f}x with {ratio_features:.1f}x the "
        f"features; bytes {sent_t / sent_g:.2f}x ({sent_t:.2f} MB, goal < 3 MB)"
    )
    ms.sort()
    print(
        f"tiles on loopback ({len(ms)} open-case tiles, z12-17): p50 {statistics.median(ms):.1f} "
        f"ms, p95 {ms[int(0.95 * (len(ms) - 1))]:.1f} ms, max {ms[-1]:.1f} ms (goal p95 < 100 ms)"
    )
    _print_combined(ms_all, results)
    print(f"all open cases drawn: {t['features'] == n_open} ({t['features']:,} of {n_open:,})")
    os.environ.pop("GRIDGOV_BENCH", None)


if __name__ == "__main__":
    main()
