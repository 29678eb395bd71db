"""In a real browser: the live operator page with more open cases than it draws one by one
(``GRIDGOV_LIVE_TILES_ABOVE`` lowered) draws every open case from vector tiles served by
``gridgov api``, and a click on a case's point opens that case's file. Screenshot kept in
tests/artifacts/live_operator_tiles.png."""

from __future__ import annotations

import time

import httpx
import sqlalchemy as sa

from api import create_app
from api.limits import RateLimits
from layers.tiles import OPEN_STATUSES
from tests.api.server import serving
from tests.e2e.conftest import ARTIFACTS, log_in, open_page, serve

LIVE_BAR_S = 10.0
"""Issue 17: a new report on the open operator page within 10 s, without a reload."""
FIND_MAP = """Object.values(window).find(v => { try { return v instanceof L.Map; }
                                           catch (e) { return false; } })"""
HAS_CASES = r"""function cases(url) { return /\/tiles\/[a-z,]*cases[a-z,]*\//.test(url); }"""
"""Whether a tile layer's URL names the cases layer (alone or among others)."""
CASES_LOADED = f"""() => {{ {HAS_CASES}
    if (typeof L === 'undefined') return false;
    const map = {FIND_MAP};
    if (!map) return false;
    let n = 0, busy = 0;
    map.eachLayer(l => {{ if (l._url && cases(l._url)) {{
        n++; if (l.isLoading()) busy++; }} }});
    return n === 1 && busy === 0; }}"""
"""The map's one tile layer holding the cases has loaded every tile in view."""


def _map_frame(page):  # type: ignore[no-untyped-def]
    """The component frame that holds the folium map."""
    for _ in range(300):
        for frame in page.frames:
            if frame == page.main_frame:
                continue
            try:
                if frame.evaluate(f"() => typeof L !== 'undefined' && !!({FIND_MAP})"):
                    return frame
            except Exception:  # a frame still loading or gone
                continue
        page.wait_for_timeout(100)
    raise AssertionError("no folium map frame on the operator page")


def _switch_the_base_map_off_and_on(frame) -> None:  # type: ignore[no-untyped-def]
    """One tile layer, one switch per layer in it: the base map off, its features go (the
    cases stay); on again, back."""
    switches = frame.locator(".leaflet-control-layers-overlays label")
    assert {"底图", "社区", "案件"} <= {s.strip() for s in switches.all_inner_texts()}
    base = switches.filter(has_text="底图").locator("input")
    for shown in (False, True):
        base.click()
        frame.wait_for_function(
            f"""() => {{ {HAS_CASES} const map = {FIND_MAP}; let base = 0, points = 0;
                const z = String(map.getZoom()); let busy = false;
                map.eachLayer(l => {{ if (l._url && cases(l._url)) {{
                    busy = busy || l.isLoading();
                    for (const key in l._vectorTiles) {{
                        if (key.split(':')[2] !== z) continue;
                        const f = l._vectorTiles[key]._features || {{}};
                        for (const id in f) {{
                            if (f[id].layerName === 'basemap') base++;
                            if (f[id].layerName === 'cases') points++; }} }} }} }});
                return !busy && points > 0 && (base > 0) === {str(shown).lower()}; }}""",
            timeout=30_000,
        )


def test_the_live_page_draws_every_open_case_from_tiles_and_a_click_opens_one(
    demo_engine,
    demo_url,
    demo_app_url,
    page,  # type: ignore[no-untyped-def]
):
    with demo_engine.connect() as conn:
        n_open = conn.execute(
            sa.text("SELECT count(*) FROM cases WHERE status = ANY (:o)"),
            {"o": list(OPEN_STATUSES)},
        ).scalar_one()
        # the case to click: an open one, away from its neighbours (its own point at z18)
        case_id, case_no, lon, lat = conn.execute(
            sa.text("""
            SELECT c.id, c.case_no, ST_X(c.geom), ST_Y(c.geom) FROM cases c
            WHERE c.status = ANY (:o) AND NOT EXISTS (
                SELECT 1 FROM cases d WHERE d.id <> c.id AND d.status = ANY (:o)
                AND ST_DWithin(d.geom::geography, c.geom::geography, 15))
            ORDER BY c.id LIMIT 1"""),
            {"o": list(OPEN_STATUSES)},
        ).one()
    threshold = max(1, n_open // 10)
    assert n_open > threshold  # the page must take the tiles path
    api_engine = sa.create_engine(demo_app_url)  # the app's own login: RLS applies
    app = create_app(api_engine, limits=RateLimits(per_address=None, per_key=None))
    tiles: list[tuple[str, int, int]] = []

    def answered(request) -> None:  # type: ignore[no-untyped-def]
        if "/tiles/" in request.url:
            response = request.response()
            path = request.url.split("/tiles/")[1].split("?")[0]
            size = request.sizes()["responseBodySize"]
            tiles.append((path, response.status if response else 0, size))

    page.on("requestfinished", answered)
    try:
        with (
            serving(app) as api_url,
            serve(
                demo_url,
                "streamlit-tiles.log",
                env={"GRIDGOV_LIVE_TILES_ABOVE": str(threshold), "GRIDGOV_API_URL": api_url},
            ) as dashboard,
        ):
            log_in(page, dashboard, "operator")
            open_page(page, "指挥调度")
            page.get_by_text("地图以矢量瓦片绘制全部").wait_for(timeout=30_000)
            note = page.get_by_text("地图以矢量瓦片绘制全部").inner_text()
            assert f"{n_open:,}" in note
            frame = _map_frame(page)
            frame.wait_for_function(CASES_LOADED, timeout=30_000)
            page.wait_for_timeout(500)  # the last answers' bodies
            cases = [t for t in tiles if "cases" in t[0].split("/")[0].split(",")]
            assert cases, tiles
            assert {status for _, status, _ in tiles} == {200}, tiles
            assert any(size > 0 for _, _, size in cases), cases
            # the queue holds only `threshold` cases; the tiles hold every open one
            drawn = frame.evaluate(f"""() => {{ {HAS_CASES}
                const map = {FIND_MAP}; const z = String(map.getZoom()); let n = 0;
                map.eachLayer(l => {{ if (l._url && cases(l._url)) {{
                    for (const key in l._vectorTiles) {{
                        if (key.split(':')[2] !== z) continue;
                        const f = l._vectorTiles[key]._features || {{}};
                        for (const id in f) {{ if (f[id].layerName !== 'cases') continue;
                            n += f[id].feature.properties.count || 1; }} }} }} }});
                return n; }}""")
            assert drawn > threshold
            page.screenshot(path=str(ARTIFACTS / "live_operator_tiles.png"), full_page=True)
            _switch_the_base_map_off_and_on(frame)
            # zoom to the case: from z16 up every case is its own point; click it
            frame.evaluate(
                f"() => {{ ({FIND_MAP}).setView([{lat}, {lon}], 18, {{animate: false}}); }}"
            )
            frame.wait_for_function(CASES_LOADED, timeout=30_000)
            frame.wait_for_function(
                f"""() => {{ {HAS_CASES} const map = {FIND_MAP}; let found = false;
                    map.eachLayer(l => {{ if (l._url && cases(l._url)) {{
                        for (const key in l._vectorTiles) {{
                            if (key.split(':')[2] !== String(map.getZoom())) continue;
                            if ((l._vectorTiles[key]._features || {{}})['case:{case_id}'])
                                found = true; }} }} }});
                    return found; }}""",
                timeout=30_000,
            )
            x, y = frame.evaluate(
                f"() => {{ const p = ({FIND_MAP}).latLngToContainerPoint([{lat}, {lon}]);"
                " return [p.x, p.y]; }"
            )
            box = frame.frame_element().bounding_box()
            assert box is not None
            page.mouse.click(box["x"] + x, box["y"] + y)
            picked = frame.wait_for_function(
                "() => window.__GLOBAL_DATA__ && window.__GLOBAL_DATA__.last_active_drawing",
                timeout=10_000,
            ).json_value()
            assert picked["properties"]["feature_id"] == f"case:{case_id}", picked
            page.get_by_role("heading", name=f"案件编号 {case_no}").wait_for(timeout=30_000)
            page.screenshot(path=str(ARTIFACTS / "live_operator_tiles_case.png"), full_page=True)
    finally:
        api_engine.dispose()
    assert page.external_requests == []


def test_a_report_posted_while_the_live_page_draws_tiles_is_on_its_map_within_10_s(
    scratch_engine,
    page,  # type: ignore[no-untyped-def]
):
    """The tile map follows the live strip: a change it sees is a new tile URL (``v=``),
    so neither the browser's cache (30 s) nor the API's (a few seconds) keeps the new
    case off the map."""
    from layers.workflow.access import create_api_key
    from tests.conftest import app_login_engine

    with scratch_engine.begin() as conn:
        key = create_api_key(conn=conn, client="live-tiles-e2e")
        n_open = conn.execute(
            sa.text("SELECT count(*) FROM cases WHERE status = ANY (:o)"),
            {"o": list(OPEN_STATUSES)},
        ).scalar_one()
        # a place in the first community, away from every open case (its own point at z18)
        lon, lat, code = conn.execute(
            sa.text("""
            SELECT ST_X(p), ST_Y(p), k.service_code
            FROM (SELECT ST_PointOnSurface(geom) AS p FROM communities
                  ORDER BY code LIMIT 1) c,
                 categories k WHERE k.kind = 'event' AND k.level = 2
            ORDER BY k.service_code LIMIT 1""")
        ).one()
    threshold = max(1, n_open // 10)
    api_engine = app_login_engine(scratch_engine)  # the app's own login: RLS applies
    app = create_app(api_engine, limits=RateLimits(per_address=None, per_key=None))
    versions: set[str] = set()
    page.on(
        "request",
        lambda r: (
            versions.add(r.url.split("v=")[1].split("&")[0])
            if "/tiles/" in r.url and "v=" in r.url
            else None
        ),
    )
    try:
        with (
            serving(app) as api_url,
            serve(
                scratch_engine.url.render_as_string(hide_password=False),
                "streamlit-tiles-live.log",
                env={"GRIDGOV_LIVE_TILES_ABOVE": str(threshold), "GRIDGOV_API_URL": api_url},
            ) as dashboard,
        ):
            log_in(page, dashboard, "operator")
            open_page(page, "指挥调度")
            page.get_by_text("地图以矢量瓦片绘制全部").wait_for(timeout=30_000)
            frame = _map_frame(page)
            frame.evaluate(
                f"() => {{ ({FIND_MAP}).setView([{lat}, {lon}], 18, {{animate: false}}); }}"
            )
            frame.wait_for_function(CASES_LOADED, timeout=30_000)
            before = set(versions)
            assert len(before) == 1, versions  # one data version so far
            page.evaluate("window.__not_reloaded = true")
            posted = httpx.post(
                f"{api_url}/open311/v2/requests.json",
                data={"api_key": key, "service_code": code, "lat": lat, "long": lon,
                      "description": "瓦片实时 / live on the tile map"},
                timeout=30,
            )  # fmt: skip
            assert posted.status_code == 201, posted.text
            stored = time.monotonic()
            case_id = int(posted.json()[0]["service_request_id"])
            # the page reruns with a new data version; its map (back at its first view)
            # is zoomed to the new case again until its point is drawn
            found = False
            while not found and time.monotonic() - stored < LIVE_BAR_S:
                frame = _map_frame(page)
                try:  # the map's frame is replaced when the page reruns
                    found = frame.evaluate(
                        f"""() => {{ {HAS_CASES} const map = {FIND_MAP}; let found = false;
                        map.eachLayer(l => {{ if (l._url && cases(l._url)) {{
                            for (const key in l._vectorTiles) {{
                                if ((l._vectorTiles[key]._features || {{}})['case:{case_id}'])
                                    found = true; }} }} }});
                        if (!found && map.getZoom() !== 18)
                            map.setView([{lat}, {lon}], 18, {{animate: false}});
                        return found; }}"""
                    )
                except Exception:  # a frame going away mid-call: look again
                    found = False
                page.wait_for_timeout(200)
            seen = time.monotonic() - stored
            print(f"\nOpen311 report on the live tile map after {seen:.1f} s (bar {LIVE_BAR_S} s)")
            assert found, f"case:{case_id} not on the tile map {LIVE_BAR_S} s after its report"
            assert len(versions - before) >= 1, versions  # a new tile URL, past the caches
            assert page.evaluate("window.__not_reloaded") is True  # no reload of the page
    finally:
        api_engine.dispose()
    assert page.external_requests == []
