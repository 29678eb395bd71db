"""In a real browser: the live operator page with more open cases than it draws one by one
(``GRIDGOV_LIVE_TILES_ABOVE`` lowered) draws every open case from vector tiles served by
``gridgov api``, and a click on a case's point opens that case's file. Screenshot kept in
tests/artifacts/live_operator_tiles.png."""

from __future__ import annotations

import sqlalchemy as sa

from api import create_app
from api.limits import RateLimits
from layers.tiles import OPEN_STATUSES
from tests.api.server import serving
from tests.e2e.conftest import ARTIFACTS, log_in, open_page, serve

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
