"""In a real browser: the leader narrows the page to a community; the map redraws first,
then (the deferred fragment, app_pages.deferred) the headline measures and the hotspot list
of that community appear on the first screen, equal to the service's answer for it."""

from __future__ import annotations

import re
import time
from datetime import datetime

import sqlalchemy as sa

from city import time_zone
from services.leader import headline, performance
from services.login import Scope
from tests.e2e.conftest import ARTIFACTS, log_in, open_page
from tests.e2e.test_district_map import _map_frame

COUNT_FEATURES = """() => {
  const key = Object.keys(window).find(k => { try { return window[k] instanceof L.Map; }
                                              catch (e) { return false; } });
  if (!key) return -1;
  let n = 0; window[key].eachLayer(l => { if (l.feature) n++; }); return n; }"""

KEPT_MAP = """() => {
  const key = Object.keys(window).find(k => { try { return window[k] instanceof L.Map; }
                                              catch (e) { return false; } });
  const communities = [];
  window[key].eachLayer(l => {
    const f = l.feature && String(l.feature.properties.feature_id);
    if (f && f.startsWith('community:')) communities.push(f.slice(10)); });
  return {kept: window.__gg_kept === true, communities,
          legends: document.querySelectorAll('.gridgov-legend').length}; }"""


def _busiest_community(engine) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(
                sa.text("""SELECT a.code, a.name_zh FROM cases c
                           JOIN communities a ON a.id = c.community_id
                           GROUP BY a.code, a.name_zh ORDER BY count(*) DESC LIMIT 1""")
            ).one()
        )


def _metric(page, label: str) -> str:  # type: ignore[no-untyped-def]
    box = page.locator('[data-testid="stMetric"]', has=page.get_by_text(label, exact=True))
    return box.locator('[data-testid="stMetricValue"]').first.inner_text()


def test_the_area_figures_follow_the_map_for_the_area_picked(dashboard, page, demo_engine):
    code, name = _busiest_community(demo_engine)
    log_in(page, dashboard, "leader")
    open_page(page, "热点与趋势")
    frame = _map_frame(page)
    page.locator('[data-testid="stMetricLabel"]', has_text="按期结案率").first.wait_for(
        timeout=60_000
    )
    before = frame.evaluate(COUNT_FEATURES)
    frame.evaluate("() => { window.__gg_kept = true; }")  # gone if the map were rebuilt
    page.locator('[data-testid="stSelectbox"]', has_text="区域").click()
    page.get_by_role("option", name=name, exact=True).click()
    deadline = time.monotonic() + 60
    redrawn = None
    while time.monotonic() < deadline:  # the map of the community comes first
        frame = next((f for f in page.frames if "st_folium" in f.url), frame)
        try:
            now = frame.evaluate(COUNT_FEATURES)
        except Exception:  # the map is being replaced
            now = -1
        if now > 0 and now != before:
            redrawn = time.monotonic()
            break
        page.wait_for_timeout(50)
    assert redrawn is not None, "the map never redrew for the community"
    # the browser kept its map and swapped the layers (dashboard.dynamic_map): the same
    # frame, one legend (the whole area's went with its layers), one community outlined
    assert frame.evaluate(KEPT_MAP) == {"kept": True, "legends": 1, "communities": [code]}
    # then the community's own figures, on the first screen, without another click
    top = page.locator(".st-key-hotspot_1 button")
    top.wait_for(timeout=60_000)
    assert re.match(rf"1\. {re.escape(name)}( · | — )", top.inner_text()), top.inner_text()
    page.get_by_text("正在计算所选区域的指标").first.wait_for(state="detached", timeout=60_000)
    shown = {label: _metric(page, label) for label in ("结案率", "按期结案率")}
    assert time.monotonic() - redrawn < 60
    heading = page.locator('[data-testid="stMetricLabel"]', has_text="按期结案率").first
    assert heading.bounding_box()["y"] < 950  # on the first screen (the viewport's height)
    with demo_engine.connect() as conn:
        start, end = conn.execute(sa.text("SELECT min(day), max(day) FROM case_daily")).one()
    now = datetime.now(time_zone()).replace(minute=0, second=0, microsecond=0)
    window = {"scope": Scope("leader"), "start": start, "end": end, "now": now}
    figures = headline(performance(demo_engine, community=code, **window))
    whole = headline(performance(demo_engine, **window))
    assert figures["cases"] < whole["cases"]  # the community's, not the whole area's
    for label, key in (("结案率", "closure_rate"), ("按期结案率", "on_time_closure_rate")):
        assert shown[label] == f"{100 * figures[key]:.1f} %", (label, shown[label], figures[key])
    page.screenshot(path=str(ARTIFACTS / "leader-area-figures.png"), full_page=False)
    assert page.external_requests == []
