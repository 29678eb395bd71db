"""/report/stats: the public figures equal a hand computation on planted cases, hidden below
the minimum sample, and no planted phone number on the public pages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa

from api import create_app
from api.limits import RateLimits
from api.report import ReportLimits
from layers import residents
from layers.workflow.cases_api import report_case, validate_report
from layers.workflow.dispatch import dispatch_case
from layers.workflow.transitions import transition
from tests.api.report_support import PLANTED_PHONE, resident_app_login
from tests.api.server import serving
from tests.workflow.factories import (
    EAST,
    INSIDE_EAST,
    INSIDE_WEST,
    STREET,
    TZ,
    WEST,
    served_database,
)

T = datetime(2025, 3, 3, 9, 0, tzinfo=TZ)
H = timedelta(hours=1)
# (community point, hours to handled, hours to closed, satisfaction, reopened by the resident)
PLANTED = [
    (INSIDE_WEST, 2, 3, 5, False),  # c1
    (INSIDE_WEST, 4, 5, 4, False),  # c2
    (INSIDE_WEST, 10, 30 * 24, 1, False),  # c3: closed a month late
    (INSIDE_WEST, 6, 7, None, True),  # c4: "not fixed" -> back in rework
    (INSIDE_WEST, 8, 9, None, False),  # c5
    (INSIDE_WEST, None, None, None, False),  # c6: still open
    (INSIDE_EAST, 1, 2, None, False),  # c7
    (INSIDE_EAST, None, None, None, False),  # c8
]


def _plant(conn: sa.Connection, where, handled, closed, satisfaction, reopened, n) -> None:  # type: ignore[no-untyped-def]
    t0 = T + n * timedelta(days=1)
    case = report_case(
        conn=conn,
        report=validate_report(
            service_code="P0208",
            lon=where[0],
            lat=where[1],
            description=f"灯不亮 {PLANTED_PHONE}",
        ),
        actor="op1",
        role="operator",
        at=t0,
        reporter_phone=PLANTED_PHONE,
    )
    cid = case["case_id"]
    conn.execute(sa.text(f"SELECT set_config('gridgov.area', '{STREET}', true)"))
    v = transition(
        conn=conn,
        case_id=cid,
        action="accept",
        actor="o",
        role="operator",
        expected_version=1,
        at=t0,
    ).version
    v = transition(
        conn=conn,
        case_id=cid,
        action="register",
        actor="o",
        role="operator",
        expected_version=v,
        at=t0,
    ).version
    v = dispatch_case(
        conn=conn, case_id=cid, actor="d", role="dispatcher", expected_version=v, at=t0
    ).version
    if handled is None:
        return
    steps = [
        ("start", "handler", t0, {}),
        (
            "handle",
            "handler",
            t0 + handled * H,
            {
                "reason": "fixed",
                "attachments": [{"type": "photo", "url": "https://example.org/a.jpg"}],
            },
        ),
        ("check", "grid_worker", t0 + handled * H, {}),
        ("close", "operator", t0 + closed * H, {}),
    ]
    if satisfaction is not None:
        steps.append(
            ("rate", "resident", t0 + closed * H + H, {"changes": {"satisfaction": satisfaction}})
        )
    if reopened:
        steps.append(("reopen", "resident", t0 + closed * H + H, {"reason": "not fixed"}))
    for action, role, at, extra in steps:
        v = transition(
            conn=conn,
            case_id=cid,
            action=action,
            actor="x",
            role=role,
            expected_version=v,
            at=at,
            **extra,
        ).version


@pytest.fixture(scope="module")
def stats_api() -> Iterator[httpx.Client]:
    admin = served_database("gridgov_test_report_stats")
    with admin.begin() as conn:
        for n, planted in enumerate(PLANTED):
            _plant(conn, *planted, n)
        residents.build_stats(conn=conn, start=T - timedelta(days=1), end=T + timedelta(days=60))
    app_login = resident_app_login(admin)
    app = create_app(
        app_login,
        limits=RateLimits(per_address=None, per_key=None),
        report_limits=ReportLimits(per_device=None, per_address=None),
    )
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client
    app_login.dispose()
    admin.dispose()


def test_the_figures_equal_a_hand_computation(stats_api):
    data = stats_api.get("/report/api/stats").json()
    assert data["min_sample"] == 5
    dept = {u["code"]: u for u in data["departments"]}["SZGC"]
    # closed with a deadline now: c1 c2 c3 c5 c7 (c4 is back in rework); on time: all but c3
    assert dept["on_time_closure"] == {"value": 0.8, "n": 5, "hidden": False}
    # handled: c1..c5, c7 -> hours 2 4 10 6 8 1 -> median (4 + 6) / 2
    assert dept["median_hours_to_fix"] == {"value": 5.0, "n": 6, "hidden": False}
    # rated: c1 c2 c3 -> 3 < 5: hidden, its sample size shown
    assert dept["satisfaction"] == {"value": None, "n": 3, "hidden": True}
    # ever closed: c1..c5, c7; reopened: c4
    assert dept["reopen_rate"] == {"value": round(1 / 6, 3), "n": 6, "hidden": False}
    west = {u["code"]: u for u in data["communities"]}[WEST]
    assert west["on_time_closure"] == {"value": None, "n": 4, "hidden": True}
    assert west["median_hours_to_fix"] == {"value": 6.0, "n": 5, "hidden": False}
    assert west["reopen_rate"] == {"value": 0.2, "n": 5, "hidden": False}
    east = {u["code"]: u for u in data["communities"]}[EAST]
    assert all(
        east[k]["hidden"]
        for k in ("on_time_closure", "median_hours_to_fix", "satisfaction", "reopen_rate")
    )


def test_no_planted_phone_on_the_public_pages(stats_api):
    for path in ("/report/api/stats", "/report/stats/", "/report/", "/report/case.html"):
        r = stats_api.get(path)
        assert r.status_code == 200
        assert PLANTED_PHONE not in r.text
