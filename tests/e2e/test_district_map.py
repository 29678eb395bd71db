"""The district map really draws, offline, in a real browser."""

import time

import sqlalchemy as sa

from tests.e2e.conftest import ARTIFACTS, log_in

COUNT_FEATURES = """() => {
  const key = Object.keys(window).find(k => { try { return window[k] instanceof L.Map; }
                                              catch (e) { return false; } });
  if (!key) return -1;
  let n = 0;
  window[key].eachLayer(l => { if (l.feature) n++; });
  return n;
}"""


def _map_frame(page, timeout_s: float = 60):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        frame = next((f for f in page.frames if "st_folium" in f.url), None)
        if frame is not None and frame.locator(".leaflet-overlay-pane canvas").count():
            return frame
        page.wait_for_timeout(300)  # lets Playwright process events (time.sleep would not)
    raise AssertionError("the Leaflet map never appeared")


def _features_when_settled(frame, expected: int, timeout_s: float = 30) -> int:
    from playwright.sync_api import Error

    deadline = time.monotonic() + timeout_s
    drawn = -1
    while time.monotonic() < deadline:
        try:
            drawn = frame.evaluate(COUNT_FEATURES)
        except Error as exc:  # a rerun replaced the map's frame: count in the new one
            if "detached" not in str(exc):
                raise
            frame = _map_frame(frame.page)
            continue
        if drawn == expected:
            return drawn
        frame.page.wait_for_timeout(300)
    return drawn


def _expected(demo_engine, parts=True) -> int:
    with demo_engine.connect() as conn:
        return conn.execute(
            sa.text(f"""
            SELECT (SELECT count(*) FROM communities) + (SELECT count(*) FROM grids_current)
                 + {"(SELECT count(*) FROM parts)" if parts else "0"}
                 + (SELECT count(*) FROM cases c JOIN case_statuses s ON s.code = c.status
                    WHERE s.is_open)""")
        ).scalar_one()


def test_the_map_draws_every_layer_offline(dashboard, page, demo_engine):
    log_in(page, dashboard, "leader")
    frame = _map_frame(page)
    expected = _expected(demo_engine, parts=False)  # parts are drawn on request
    assert _features_when_settled(frame, expected) == expected
    assert frame.locator(".leaflet-map-pane").count() == 1
    legend = frame.locator(".gridgov-legend")
    assert legend.count() == 1 and "图例" in legend.inner_text()
    assert frame.locator(".leaflet-tile").count() == 0, "no tiles by default: the base map is ours"
    page.screenshot(path=str(ARTIFACTS / "district_map.png"), full_page=True)
    assert page.external_requests == []


def test_switching_a_layer_on_draws_it(dashboard, page, demo_engine):
    log_in(page, dashboard, "leader")
    _map_frame(page)
    page.locator('[data-testid="stCheckbox"]', has_text="部件").click()
    page.wait_for_timeout(1000)
    frame = _map_frame(page)
    expected = _expected(demo_engine, parts=True)
    assert _features_when_settled(frame, expected) == expected
    page.screenshot(path=str(ARTIFACTS / "district_map_with_parts.png"), full_page=True)
    assert page.external_requests == []
