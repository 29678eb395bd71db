"""Dashboard at city scale: every page with 1,000,000 cases in the database.

Measures, per page, in the real app driven by headless Chromium:

- first render: wall time from navigation until the Leaflet map holds its features
  (an upper bound of the server's time: it includes the browser's);
- server time: the page's service-layer call plus building and rendering its map,
  timed in-process;
- bytes sent to the browser as HTML/JSON (Streamlit's websocket messages plus the
  map component's HTML), static assets (scripts, styles, fonts) counted apart;
- a filter change: time from the widget change until the map has redrawn.

Baseline in the same run: the naive map — a raw folium ``HeatMap`` of every case
point (1M points), built in Python and rendered to HTML (its size and build time).

Run: ``uv run python benchmarks/bench_dashboard.py [--cases 1000000]``; every page is
measured logged in as the demo leader, reached from the sidebar menu. It creates (once)
the database ``gridgov_bench_dashboard`` on the configured server and keeps it for
re-runs (``--reload`` to rebuild).
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from city import time_zone

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dashboard import maps  # noqa: E402
from gis.demo import generate_district  # noqa: E402
from layers import migrate  # noqa: E402
from layers.auth import DEMO_PASSWORD, Scope, demo_users, list_users  # noqa: E402
from layers.catalogue import read_categories  # noqa: E402
from layers.db import database_url  # noqa: E402
from layers.demo import load_demo, loaded_demo  # noqa: E402
from services.areas import area_extents, rollup_days  # noqa: E402
from services.district import district_map  # noqa: E402
from services.leader import leader_heat_by_area, narrow_heat  # noqa: E402
from services.operator import operator_desk  # noqa: E402
from services.supervisor import supervisor_coverage  # noqa: E402

DB = "gridgov_bench_dashboard"
PAGES = ["district", "operator", "supervisor", "leader"]
TITLES = {
    "district": "辖区地图",
    "operator": "指挥调度",
    "supervisor": "网格员巡查覆盖",
    "leader": "热点与趋势",
}
USER = "leader"  # every page is open to the leader, over the whole street
LEADER = Scope("leader")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
COUNT_FEATURES = """() => {
  const key = Object.keys(window).find(k => { try { return window[k] instanceof L.Map; }
                                              catch (e) { return false; } });
  if (!key) return -1;
  let n = 0; window[key].eachLayer(l => { if (l.feature) n++; }); return n; }"""


def prepare(n_cases: int, reload: bool) -> str:
    """The benchmark database, loaded with a demo street of ``n_cases`` cases."""
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
    url = database_url(database=DB)
    engine = sa.create_engine(url)
    migrate.upgrade(engine)
    with engine.connect() as conn:
        meta = loaded_demo(conn)
    if meta and meta["counts"]["cases"] >= 0.95 * n_cases:
        print(f"database {DB}: {meta['counts']['cases']:,} cases already loaded")
        with engine.begin() as conn:  # a database loaded before the logins existed
            if not any(u["username"] == USER for u in list_users(conn=conn)):
                demo_users(conn=conn)
            # loaded before the ANALYZE below was committed: no statistics at all, so the
            # planner guessed (nested loops over 276k rollup rows took 9 s instead of 0.1)
            if not conn.execute(
                sa.text("SELECT 1 FROM pg_stats WHERE tablename = 'case_measures_daily'")
            ).first():
                conn.exec_driver_sql("ANALYZE")
        return url
    started = time.perf_counter()
    district = generate_district(
        read_categories(),
        seed=42,
        n_cases=int(n_cases * 1.04),
        as_of=pd.Timestamp.now(tz=time_zone().key).normalize() + pd.Timedelta(hours=18),
    )
    generated = time.perf_counter()
    with engine.begin() as conn:
        report = load_demo(conn, district, replace=True)
    with engine.begin() as conn:  # committed: statistics are rolled back with a transaction
        conn.exec_driver_sql("ANALYZE")
    print(
        f"generated in {generated - started:.0f} s, loaded in "
        f"{time.perf_counter() - generated:.0f} s: {report.counts}"
    )
    return url


def time_views(url: str) -> dict[str, float]:
    """Seconds of each page's server work, in-process: its data call plus building and
    rendering its folium map (cold: a fresh engine, no Streamlit cache)."""
    engine = sa.create_engine(url)
    now = datetime.now(time_zone())
    calls = {
        "district": lambda: _district(engine, now),
        "operator": lambda: _operator(engine, now),
        "supervisor": lambda: _supervisor(engine),
        "leader": lambda: _leader(engine),
    }
    out = {}
    for page, call in calls.items():
        started = time.perf_counter()
        call()
        out[page] = time.perf_counter() - started
    return out


def _render(m) -> int:  # type: ignore[no-untyped-def]
    return len(maps.finish(m).get_root().render())


def _district(engine, now):  # type: ignore[no-untyped-def]
    d = district_map(engine, scope=LEADER, now=now, case_limit=1_500)
    m = maps.new_map(d.extent)
    maps.add_communities(m, d.communities, "zh")
    maps.add_grids(m, d.grids, "zh")
    maps.add_open_cases(m, d.open_cases, "zh")
    return _render(m)


def _operator(engine, now):  # type: ignore[no-untyped-def]
    d = operator_desk(engine, scope=LEADER, now=now)
    m = maps.new_map(d.extent)
    maps.add_communities(m, d.communities, "zh")
    maps.add_open_cases(m, d.queue, "zh")
    return _render(m)


def _supervisor(engine):  # type: ignore[no-untyped-def]
    d = supervisor_coverage(engine, scope=LEADER)
    m = maps.new_map(d.extent)
    maps.add_coverage(m, d.grids, "zh")
    return _render(m)


def _leader(engine):  # type: ignore[no-untyped-def]
    # as the page does it: the window's rollups for the whole area, narrowed in pandas
    days = rollup_days(engine, scope=LEADER)
    loaded = leader_heat_by_area(engine, scope=LEADER, start=days[0], end=days[1])
    cells, daily = narrow_heat(loaded, None)
    m = maps.new_map(area_extents(engine, scope=LEADER)[None])
    maps.add_heat_cells(m, cells, 8, "zh")
    maps.weekly_trend(daily, "zh")
    return _render(m)


def serve(url: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "app.py"),
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
        ],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=1):
                return proc, base
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("the dashboard did not start")


def drive(base: str) -> list[dict]:
    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        # the first visit after a server start pays for importing the app's modules
        cold = _measure_page(browser, base, "district")
        print(f"cold start (first visit after the server started): {cold['first_render_s']} s")
        for page_name in PAGES:
            rows.append(_measure_page(browser, base, page_name))
        browser.close()
    return rows


def _measure_page(browser, base: str, name: str) -> dict:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1400, "height": 950})
    page = context.new_page()
    ws_bytes = [0]
    responses = []
    page.on(
        "websocket",
        lambda ws: ws.on(
            "framereceived", lambda payload: ws_bytes.__setitem__(0, ws_bytes[0] + len(payload))
        ),
    )
    page.on("requestfinished", lambda request: responses.append(request))
    # log in as the leader (the form, as a user does); the district map is the first page
    page.goto(base)
    page.get_by_label("用户名").fill(USER)
    page.get_by_label("密码").fill(DEMO_PASSWORD)
    started = time.perf_counter()
    page.get_by_role("button", name="登录").click()
    frame = _wait_for_map(page)
    if name != "district":
        # another page: from the menu click (a page load would start a new session)
        page.wait_for_timeout(300)
        ws_bytes[0] = 0
        responses.clear()
        old = frame
        started = time.perf_counter()
        page.locator('[data-testid="stSidebarNav"] a', has_text=TITLES[name]).click()
        page.get_by_role("heading", name=TITLES[name]).first.wait_for(timeout=120_000)
        frame = _wait_for_map(page, not_frame=old)
    first_render = time.perf_counter() - started
    page.wait_for_timeout(500)
    data_http, static_http = _http_bytes(responses)
    sent = ws_bytes[0] + data_http  # before the filter change adds its own messages
    change = _filter_change(page, name, frame)
    context.close()
    return {
        "page": name,
        "first_render_s": round(first_render, 2),
        "html_json_MB": round(sent / 1e6, 2),
        "static_assets_MB": round(static_http / 1e6, 2),
        "filter_change_s": None if change is None else round(change, 2),
    }


def _wait_for_map(page, timeout_s: float = 120, not_frame=None):  # type: ignore[no-untyped-def]
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        frame = next((f for f in page.frames if "st_folium" in f.url and f is not not_frame), None)
        if frame is not None:
            try:
                if frame.evaluate(COUNT_FEATURES) > 0:
                    return frame
            except Exception:  # the frame may still be loading
                pass
        page.wait_for_timeout(50)
    raise RuntimeError("map not drawn")


def _http_bytes(requests) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    data = static = 0
    for request in requests:
        size = request.sizes()["responseBodySize"]
        if request.resource_type in ("document", "xhr", "fetch"):
            data += size
        else:
            static += size
    return data, static


def _filter_change(page, name: str, frame) -> float | None:  # type: ignore[no-untyped-def]
    """Narrow the page to one community (the shared area picker); time until the map redraws."""
    before = frame.evaluate(COUNT_FEATURES)
    started = time.perf_counter()
    page.locator('[data-testid="stSelectbox"]', has_text="区域").click()
    page.get_by_role("option").nth(1).click()
    deadline = time.perf_counter() + 60
    while time.perf_counter() < deadline:
        frame = next((f for f in page.frames if "st_folium" in f.url), frame)
        try:
            now = frame.evaluate(COUNT_FEATURES)
        except Exception:  # the map is being replaced
            now = -1
        if now > 0 and now != before:
            return time.perf_counter() - started
        page.wait_for_timeout(50)
    return None


def naive_baseline(url: str) -> dict:
    """A raw folium HeatMap of every case point: build time and HTML size."""
    import folium
    from folium.plugins import HeatMap

    engine = sa.create_engine(url)
    started = time.perf_counter()
    with engine.connect() as conn:
        points = conn.execute(sa.text("SELECT ST_Y(geom), ST_X(geom) FROM cases")).all()
    m = folium.Map(tiles=None)
    HeatMap([list(p) for p in points]).add_to(m)
    html = m.get_root().render()
    return {
        "points": len(points),
        "build_s": round(time.perf_counter() - started, 2),
        "html_MB": round(len(html.encode()) / 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--reload", action="store_true", help="Rebuild the database.")
    parser.add_argument(
        "--url", help="Measure this database as it is (no loading; it needs the demo users)."
    )
    parser.add_argument(
        "--prepare-only", action="store_true", help="Build the database, measure nothing."
    )
    args = parser.parse_args()
    url = args.url or prepare(args.cases, args.reload)
    if args.prepare_only:
        return
    with sa.create_engine(url).connect() as conn:
        n = conn.execute(sa.text("SELECT count(*) FROM cases")).scalar_one()
    print(f"cases in the database: {n:,}")
    server = time_views(url)
    proc, base = serve(url)
    try:
        rows = drive(base)
    finally:
        proc.terminate()
    table = pd.DataFrame(rows).assign(server_s=[round(server[r["page"]], 2) for r in rows])
    print(table.to_string(index=False))
    naive = naive_baseline(url)
    worst_mb = table.html_json_MB.max()
    print(
        f"naive baseline (raw HeatMap of all {naive['points']:,} points): "
        f"{naive['html_MB']} MB of HTML built in {naive['build_s']} s"
    )
    print(
        f"ratio: the heaviest page sends {naive['html_MB'] / max(worst_mb, 1e-9):.0f}x less "
        f"than the naive map; bar: first render < 3 s, < 3 MB, filter change < 1 s"
    )


if __name__ == "__main__":
    main()
