"""In a real browser: a case reported through Open311 and an imported case are each
picked on the operator's map, by the id their marker carries, and open their case file.

Before, selection parsed the clicked tooltip for a 15-digit token, so only demo case
numbers could be picked: Open311 numbers (``R…``) and imported ones (``<source>-<id>``)
could not.
"""

from __future__ import annotations

import httpx
import sqlalchemy as sa

from api import create_app
from city import time_zone
from layers.ingest import load_cases, load_mapping
from layers.workflow.access import create_api_key
from tests.api.server import serving
from tests.e2e.conftest import ARTIFACTS, log_in, open_page
from tests.e2e.test_district_map import _map_frame

MARKER_AT = """(fid) => {
  const key = Object.keys(window).find(k => { try { return window[k] instanceof L.Map; }
                                              catch (e) { return false; } });
  if (!key) return null;
  const map = window[key];
  let target = null;
  map.eachLayer(l => { if (l.feature && l.feature.properties.feature_id === fid) target = l; });
  if (!target) return null;
  map.setView(target.getLatLng(), 19, {animate: false});
  const p = map.latLngToContainerPoint(target.getLatLng());
  const box = map.getContainer().getBoundingClientRect();
  return [box.left + p.x, box.top + p.y];
}"""

MAPPING = """layer: cases
source: cityimport
timezone: {tz}
datum: wgs84
columns:
  source_id: id
  lon: lon
  lat: lat
  category: kind
  reported_at: opened
  status: state
statuses:
  open: dispatched
categories:
  litter: {code}
default_category: null
"""


def _spot(engine, nth: int) -> tuple[str, float, float]:
    """An event category and a point inside the ``nth`` community (not where other tests
    put their cases, the first one)."""
    with engine.connect() as conn:
        return tuple(
            conn.execute(
                sa.text("""
                SELECT k.service_code, ST_X(p), ST_Y(p)
                FROM (SELECT ST_PointOnSurface(geom) AS p FROM communities
                      ORDER BY code OFFSET :n LIMIT 1) c,
                     categories k WHERE k.kind = 'event' AND k.level = 2
                ORDER BY k.service_code LIMIT 1"""),
                {"n": nth},
            ).one()
        )


def _report_through_open311(engine) -> tuple[int, str]:
    """POST a request to the real Open311 API (uvicorn on loopback) with an API key."""
    code, lon, lat = _spot(engine, 1)
    with engine.begin() as conn:
        key = create_api_key(conn=conn, client="e2e-map-selection")
    with serving(create_app(engine)) as url, httpx.Client(base_url=url, timeout=30) as client:
        r = client.post(
            "/open311/v2/requests.json",
            data={"api_key": key, "service_code": code, "lat": lat + 0.0004, "long": lon,
                  "description": "posted through Open311 / 经 Open311 上报"},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        case_id = int(r.json()[0]["service_request_id"])
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT id, case_no FROM cases WHERE id = :i"), {"i": case_id}
        ).one()
    return int(row.id), str(row.case_no)


def _import_one(engine, tmp_path) -> tuple[int, str]:
    """Load one open case from a CSV with a mapping, as ``gridgov load cases`` does."""
    code, lon, lat = _spot(engine, 2)
    (tmp_path / "m.yaml").write_text(MAPPING.format(code=code, tz=time_zone().key))
    (tmp_path / "c.csv").write_text(
        f"id,lon,lat,kind,opened,state\nA-77,{lon},{lat + 0.0004},litter,2026-11-20 09:00,open\n"
    )
    with engine.connect() as conn:
        load_cases(tmp_path / "c.csv", load_mapping(tmp_path / "m.yaml"), conn=conn)
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT id, case_no FROM cases WHERE source_id = 'A-77'")).one()
    return int(row.id), str(row.case_no)


def _click_case(page, case_id: int) -> None:  # type: ignore[no-untyped-def]
    """Click the case's marker where the browser drew it (zoomed in so nothing overlaps)."""
    for _ in range(60):
        frame = _map_frame(page)
        spot = frame.evaluate(MARKER_AT, f"case:{case_id}")
        if spot:
            break
        page.wait_for_timeout(500)
    assert spot, f"case {case_id} is not on the operator's map"
    page.wait_for_timeout(800)  # the canvas redraws at the new zoom
    spot = frame.evaluate(MARKER_AT, f"case:{case_id}")
    box = frame.frame_element().bounding_box()
    page.mouse.click(box["x"] + spot[0], box["y"] + spot[1])


def _idle(page, quiet_ms: int = 1500) -> None:  # type: ignore[no-untyped-def]
    """Wait until Streamlit has not been running for ``quiet_ms`` (the map's own first
    report back to the app causes a rerun; a click in the middle of it would be lost)."""
    quiet = 0
    for _ in range(200):
        running = page.locator('[data-testid="stStatusWidget"]').count() > 0
        quiet = 0 if running else quiet + 250
        if quiet >= quiet_ms:
            return
        page.wait_for_timeout(250)


def test_open311_and_imported_cases_are_picked_on_the_operator_map(
    scratch_dashboard, page, scratch_engine, tmp_path
):
    posted_id, posted_no = _report_through_open311(scratch_engine)
    imported_id, imported_no = _import_one(scratch_engine, tmp_path)
    # neither number is a 15-digit demo number: the old tooltip parsing found nothing
    assert not (posted_no.isdigit() and len(posted_no) == 15)
    assert not (imported_no.isdigit() and len(imported_no) == 15)
    log_in(page, scratch_dashboard, "operator")
    open_page(page, "指挥调度")
    for case_id, case_no, shot in [
        (posted_id, posted_no, "operator_map_pick_open311.png"),
        (imported_id, imported_no, "operator_map_pick_imported.png"),
    ]:
        _idle(page)
        _click_case(page, case_id)
        page.locator("h3", has_text=case_no).first.wait_for(timeout=30_000)
        page.get_by_text("可执行操作").wait_for()
        page.screenshot(path=str(ARTIFACTS / shot), full_page=True)
    assert page.external_requests == []
