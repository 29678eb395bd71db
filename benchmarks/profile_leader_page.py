"""Where the leader page's first render and area change go, in the browser and on the
wire: today's page (``--ref``) and this tree's, one visit each, on the benchmark database
of ``bench_leader_page.py`` (loaded there).

For each step (menu click → map drawn; area picked → map redrawn) it prints:

- the websocket messages from the server (Streamlit's deltas): when the first and the
  map's arrived after the click, their count and bytes, and the map message's bytes;
- the browser's own work over the step (CDP ``Performance.getMetrics`` deltas: script,
  layout, style recalculation, all tasks) and the wall time;
- what the map holds (GeoJSON features by kind, markers, coordinate count, HTML bytes);
- the messages that follow the map within ``--settle`` seconds (the deferred figures).

Run: ``flock /tmp/gridgov-bench.lock uv run python benchmarks/profile_leader_page.py
[--ref b77af1b]``. Not a timed benchmark: one visit per page; read it for proportions.
"""

from __future__ import annotations

import argparse
import base64
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_dashboard as dash  # noqa: E402
import bench_leader_page as bench  # noqa: E402

MAP_CONTENT = """() => {
  const key = Object.keys(window).find(k => { try { return window[k] instanceof L.Map; }
                                              catch (e) { return false; } });
  if (!key) return null;
  const out = {features: {}, markers: 0, coordinates: 0,
               html_bytes: document.documentElement.outerHTML.length};
  const count = c => Array.isArray(c) ? (typeof c[0] === 'number' ? 1
                                         : c.reduce((a, x) => a + count(x), 0)) : 0;
  window[key].eachLayer(l => {
    if (l.feature) {
      const kind = String((l.feature.properties || {}).feature_id || 'other').split(':')[0];
      out.features[kind] = (out.features[kind] || 0) + 1;
      out.coordinates += count(l.feature.geometry.coordinates);
    } else if (l instanceof L.Marker) { out.markers++; }
  });
  return out; }"""
METRICS = ("ScriptDuration", "LayoutDuration", "RecalcStyleDuration", "TaskDuration")


class Wire:
    """The websocket frames the page receives, with their arrival (perf_counter)."""

    def __init__(self, cdp) -> None:  # type: ignore[no-untyped-def]
        self.frames: list[tuple[float, int, bool]] = []
        cdp.send("Network.enable")
        cdp.on("Network.webSocketFrameReceived", self._on)

    def _on(self, event: dict) -> None:
        data = event["response"]["payloadData"]
        raw = base64.b64decode(data) if event["response"]["opcode"] == 2 else data.encode()
        self.frames.append((time.perf_counter(), len(raw), b"L.map(" in raw or b"L.map (" in raw))

    def since(self, t0: float, t1: float | None = None) -> list[tuple[float, int, bool]]:
        return [f for f in self.frames if f[0] >= t0 and (t1 is None or f[0] <= t1)]


def _metrics(cdp) -> dict[str, float]:  # type: ignore[no-untyped-def]
    got = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return {k: float(got.get(k, 0.0)) for k in METRICS}


def _step(name: str, wire: Wire, cdp, span: tuple[float, float], *, before: dict, frame) -> None:  # type: ignore[no-untyped-def]
    t0, t1 = span
    after = _metrics(cdp)
    frames = wire.since(t0, t1)
    first = frames[0][0] - t0 if frames else float("nan")
    mapped = [f for f in frames if f[2]]
    map_at = mapped[-1][0] - t0 if mapped else float("nan")
    map_bytes = mapped[-1][1] if mapped else 0
    used = {k: after[k] - before[k] for k in METRICS}
    content = frame.evaluate(MAP_CONTENT)
    print(
        f"  {name}: {t1 - t0:.2f} s wall; first message {first:.2f} s, map message at "
        f"{map_at:.2f} s ({map_bytes / 1e3:.0f} kB); {len(frames)} messages, "
        f"{sum(f[1] for f in frames) / 1e3:.0f} kB before the map was drawn\n"
        f"    browser: script {used['ScriptDuration']:.2f} s, layout "
        f"{used['LayoutDuration']:.2f} s, style {used['RecalcStyleDuration']:.2f} s, all "
        f"tasks {used['TaskDuration']:.2f} s\n    map: {content}",
        flush=True,
    )


def _settle(name: str, wire: Wire, t1: float, settle: float, page) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_timeout(int(settle * 1000))
    later = wire.since(t1)
    if later:
        print(
            f"    after the map ({name}): {len(later)} messages, "
            f"{sum(f[1] for f in later) / 1e3:.0f} kB, the last {later[-1][0] - t1:.2f} s "
            "after the map was drawn",
            flush=True,
        )


def visit(browser, base: str, label: str, settle: float) -> None:  # type: ignore[no-untyped-def]
    context = browser.new_context(viewport={"width": 1400, "height": 950})
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable")
    wire = Wire(cdp)
    page.goto(base)
    page.get_by_label("用户名").fill(dash.USER)
    page.get_by_label("密码").fill(dash.DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()
    first = dash._wait_for_map(page, timeout_s=600)
    page.wait_for_timeout(1500)
    print(f"{label}:")
    for attempt in ("cold", "warm"):
        before = _metrics(cdp)
        t0 = time.perf_counter()
        page.locator('[data-testid="stSidebarNav"] a', has_text=bench.TITLE).click()
        page.get_by_role("heading", name=bench.TITLE).first.wait_for(timeout=600_000)
        frame = dash._wait_for_map(page, timeout_s=600, not_frame=first)
        t1 = time.perf_counter()
        _step(f"first render ({attempt})", wire, cdp, (t0, t1), before=before, frame=frame)
        _settle("first render", wire, t1, settle, page)
        if attempt == "cold":  # away and back: the second opening is warm
            page.locator('[data-testid="stSidebarNav"] a').first.click()
            first = dash._wait_for_map(page, timeout_s=600, not_frame=frame)
            page.wait_for_timeout(1500)
    for index in (1, 2):
        count = frame.evaluate(dash.COUNT_FEATURES)
        before = _metrics(cdp)
        t0 = time.perf_counter()
        page.locator('[data-testid="stSelectbox"]', has_text="区域").click()
        page.get_by_role("option").nth(index).click()
        deadline = t0 + 600
        while time.perf_counter() < deadline:
            frame = next((f for f in page.frames if "st_folium" in f.url), frame)
            try:
                now = frame.evaluate(dash.COUNT_FEATURES)
            except Exception:  # the map is being replaced
                now = -1
            if now > 0 and now != count:
                break
            page.wait_for_timeout(20)
        t1 = time.perf_counter()
        _step(f"area change {index}", wire, cdp, (t0, t1), before=before, frame=frame)
        _settle("area change", wire, t1, settle, page)
    context.close()


def server_breakdown(url: str) -> None:
    """The new page's server work, in-process, part by part (cold: a fresh engine)."""
    import sqlalchemy as sa
    from streamlit_folium import _get_map_string

    from dashboard import leader_maps, maps
    from gis import heat
    from services.areas import area_extents, rollup_days
    from services.leader import leader_heat_by_area, narrow_heat
    from services.leader_places import place_layers

    engine = sa.create_engine(url)
    took: dict[str, float] = {}

    def timed(name, call):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        out = call()
        took[name] = time.perf_counter() - t0
        return out

    days = timed("rollup_days", lambda: rollup_days(engine, scope=dash.LEADER))
    heat_ = timed(
        "leader_heat_by_area (window, whole area)",
        lambda: leader_heat_by_area(engine, scope=dash.LEADER, start=days[0], end=days[1]),
    )
    extents = timed("area_extents", lambda: area_extents(engine, scope=dash.LEADER))
    layers = timed("place_layers", lambda: place_layers(engine, scope=dash.LEADER))
    community = str(layers.communities.code.iloc[1])
    for area in (None, community):
        cells, _daily = timed(f"narrow_heat {area}", lambda a=area: narrow_heat(heat_, a))
        extent = extents.get(area)
        resolution = heat.resolution_for_extent(extent)
        outlines = layers.communities
        roads = layers.roads
        if area is not None:
            outlines = outlines[outlines.code.str.startswith(area)]
            minx, miny, maxx, maxy = outlines.total_bounds
            roads = roads.cx[minx:maxx, miny:maxy]
        for with_places in (False, True):

            def build(cells=cells, extent=extent, resolution=resolution, *,  # type: ignore[no-untyped-def]
                      outlines=outlines, roads=roads, with_places=with_places):  # fmt: skip
                m = maps.new_map(extent)
                maps.add_heat_cells(m, cells, resolution, "zh")
                if with_places:
                    leader_maps.add_places(m, outlines, roads, "zh")
                m = maps.finish(m)
                m.get_root().render()
                return _get_map_string(m)

            name = (
                f"map {area or 'whole area'} r{resolution} {'with' if with_places else 'no'} places"
            )
            script = timed(name, build)
            took[name + f" ({len(script) / 1e3:.0f} kB)"] = took.pop(name)
        n_coords = sum(
            len(g.exterior.coords)
            if g.geom_type == "Polygon"
            else sum(len(p.exterior.coords) for p in g.geoms)
            for g in outlines.geometry
        )
        road_coords = sum(
            len(g.coords) if g.geom_type == "LineString" else sum(len(p.coords) for p in g.geoms)
            for g in roads.geometry
        )
        print(f"  {area or 'whole area'}: {len(cells)} r9 cells, {len(outlines)} outlines "
              f"({n_coords} vertices), {len(roads)} roads ({road_coords} vertices)")  # fmt: skip
    for name, seconds in took.items():
        print(f"  {name:60} {seconds:6.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="b77af1b")
    parser.add_argument("--settle", type=float, default=8.0)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--only-new", action="store_true")
    parser.add_argument("--server-only", action="store_true")
    args = parser.parse_args()
    dash.DB = bench.DB
    url = dash.prepare(args.cases, reload=False)
    print("server, in-process:")
    server_breakdown(url)
    if args.server_only:
        return
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="gridgov-profile-leader-") as tmp:
        trees = {"new": ROOT}
        if not args.only_new:
            trees = {"today": bench.baseline_tree(args.ref, Path(tmp)), **trees}
        servers = {name: bench.serve(tree, url) for name, tree in trees.items()}
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path="/usr/bin/chromium", args=dash.CHROMIUM_ARGS
                )
                for name, (_, base) in servers.items():
                    visit(browser, base, name, args.settle)
                browser.close()
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(timeout=30)
    print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
