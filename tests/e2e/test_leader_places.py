"""In a real browser: the leader clicks the top hotspot of the list, the map zooms to that
named place and the drill-down lists the place's cases; the charts and the weekly heat
draw offline. Screenshots of every leader view go to tests/artifacts (leader-*.png)."""

from __future__ import annotations

import re
import time
from datetime import date, timedelta
from pathlib import Path

import h3.api.basic_int as h3
import sqlalchemy as sa

from city import time_zone
from tests.e2e.conftest import ARTIFACTS, log_in, open_page
from tests.e2e.test_district_map import _map_frame

MAP_STATE = """() => {
  const key = Object.keys(window).find(k => { try { return window[k] instanceof L.Map; }
                                              catch (e) { return false; } });
  if (!key) return null;
  const map = window[key];
  let chosen = null;
  map.eachLayer(l => { const f = l.feature && l.feature.properties.feature_id;
                       if (f && f.startsWith('chosen:')) chosen = f.slice(7); });
  const names = [...document.querySelectorAll('.gg-place-name')].map(e => e.textContent);
  const legends = [...document.querySelectorAll('.gridgov-legend')].map(e => e.textContent);
  let cells = 0;
  map.eachLayer(l => { const f = l.feature && l.feature.properties.feature_id;
                       if (f && f.startsWith('h3:')) cells++; });
  const c = map.getCenter();
  const b = map.getBounds();
  return {zoom: map.getZoom(), chosen, names, legends, cells, lat: c.lat, lng: c.lng,
          box: [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()],
          roads: (() => { let n = 0; map.eachLayer(l => {
            const f = l.feature && l.feature.properties.feature_id;
            if (f && f.startsWith('road:')) n++; }); return n; })()};
}"""


def _state_when(page, test, timeout_s: float = 60):  # type: ignore[no-untyped-def]
    """The map's state once ``test(state)`` holds (the map reloads on a rerun)."""
    from playwright.sync_api import Error

    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        for frame in [f for f in page.frames if "st_folium" in f.url]:
            try:
                last = frame.evaluate(MAP_STATE)
            except Error:
                continue
            if last and test(last):
                return last
        page.wait_for_timeout(300)
    raise AssertionError(f"the map never got there: {last}")


def _cases_in(engine, cell: str, start: date, end: date) -> int:  # type: ignore[no-untyped-def]
    children = [int(c) for c in h3.cell_to_children(h3.str_to_int(cell), 9)]
    with engine.connect() as conn:
        return conn.execute(
            sa.text("""
            SELECT count(*) FROM cases
            WHERE h3_r9 = ANY(:cells) AND (reported_at AT TIME ZONE :tz)::date
                  BETWEEN :start AND :end"""),
            {"cells": children, "tz": time_zone().key, "start": start, "end": end},
        ).scalar_one()


def test_top_hotspot_zooms_to_a_named_place_and_lists_its_cases(dashboard, page, demo_engine):
    log_in(page, dashboard, "leader")
    open_page(page, "热点与趋势")
    _map_frame(page)
    before = _state_when(page, lambda s: s["names"] and s["roads"] > 0)
    page.screenshot(path=str(ARTIFACTS / "leader-overview.png"), full_page=True)
    top = page.locator(".st-key-hotspot_1 button")
    label = top.inner_text()
    place = re.match(r"1\. (.+?)( · | — )", label)
    assert place, label
    top.click()
    after = _state_when(page, lambda s: s["chosen"] is not None)
    assert after["zoom"] > before["zoom"]  # zoomed in on the place
    assert place.group(1) in after["names"]  # the community's name is on the map
    with demo_engine.connect() as conn:  # and the view is inside that community
        inside = conn.execute(
            sa.text("""SELECT bool_or(ST_Intersects(geom, ST_MakeEnvelope(:w, :s, :e, :n, 4326)))
                       FROM communities WHERE name_zh = :name"""),
            dict(zip("wsen", after["box"], strict=True), name=place.group(1)),
        ).scalar_one()
    assert inside
    centre = h3.latlng_to_cell(after["lat"], after["lng"], 9)
    assert (
        h3.int_to_str(centre) == after["chosen"]
        or h3.grid_distance(centre, h3.str_to_int(after["chosen"])) <= 1
    )
    # the drill-down lists this place's cases: as many as the database has there
    caption = page.get_by_text(re.compile(rf"H3 {after['chosen']}：")).first
    caption.wait_for(timeout=30_000)
    found = re.search(r"(\d{4}-\d\d-\d\d) 至 (\d{4}-\d\d-\d\d) 共 (\d+) 件", caption.inner_text())
    assert found, caption.inner_text()
    start, end = (date.fromisoformat(found.group(i)) for i in (1, 2))
    assert end - start == timedelta(days=27)
    n = int(found.group(3))
    assert n > 0 and n == min(500, _cases_in(demo_engine, after["chosen"], start, end))
    page.screenshot(path=str(ARTIFACTS / "leader-hotspot-zoomed.png"), full_page=True)
    assert page.external_requests == []


def test_charts_gi_star_and_weekly_heat_draw_offline(dashboard, page):
    log_in(page, dashboard, "leader")
    open_page(page, "热点与趋势")
    _map_frame(page)
    chart = page.locator(".js-plotly-plot").first
    chart.wait_for(timeout=60_000)  # the ranked measure chart
    assert page.locator(".js-plotly-plot .bars path").count() >= 3
    chart.scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "leader-performance.png"), full_page=True)
    # the Excel export is built when clicked (not on every run): it downloads the tables
    with page.expect_download(timeout=60_000) as got:
        page.get_by_role("button", name="导出 Excel").click()
    import io

    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(Path(got.value.path()).read_bytes()))
    assert {"departments", "grids"} <= set(book.sheetnames)
    assert book["departments"].max_row > 3
    page.locator('[data-testid="stSidebar"] label', has_text="热点分析").first.click()
    # the Gi* cells swapped in for the heat, with their legend only (the heat's went away)
    _state_when(
        page,
        lambda s: (
            s["names"] and s["cells"] > 0 and len(s["legends"]) == 1 and "Gi*" in s["legends"][0]
        ),
    )
    page.wait_for_timeout(1500)
    page.get_by_role("heading", name="热点与趋势").first.scroll_into_view_if_needed()  # the map
    page.screenshot(path=str(ARTIFACTS / "leader-gi-star.png"), full_page=True)
    page.locator('[data-testid="stSidebar"] label', has_text="逐周热力动画").first.click()
    page.locator(".js-plotly-plot .slider-container").first.wait_for(timeout=60_000)
    page.screenshot(path=str(ARTIFACTS / "leader-weekly.png"), full_page=True)
    assert page.external_requests == []
