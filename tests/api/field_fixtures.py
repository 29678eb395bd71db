"""Fixtures of the field API tests: a committed database with logins, workers and grids."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from layers.auth import add_user
from layers.workflow.cases_api import report_case, validate_report
from services.field import link_worker
from tests.conftest import app_login_engine
from tests.workflow.factories import WEST, category_with_department, served_database, walk_to

PASSWORD = "field-test-pass"
WEST_POINT = (120.605, 31.305)
EAST_POINT = (120.635, 31.305)


def jpeg(seed: int) -> bytes:
    """Bytes a photo check takes for a JPEG (its signature), different for each seed."""
    return b"\xff\xd8\xff\xe0" + seed.to_bytes(4, "big") * 64


def make_reported(
    engine: Engine, *, where: tuple[float, float], description: str | None = None
) -> int:
    """A case reported by an operator (committed); its id."""
    with engine.begin() as conn:
        report = validate_report(
            service_code=category_with_department(conn),
            lon=where[0],
            lat=where[1],
            source="hotline",
            description=description,
        )
        made = report_case(conn=conn, report=report, actor="op1", role="operator")
    return int(made["case_id"])


def sign_in(url: str, username: str) -> tuple[str, str]:
    """A device token and id for ``username``."""
    with httpx.Client(base_url=url, timeout=30) as c:
        r = c.post(
            "/field/api/devices",
            json={"username": username, "password": PASSWORD, "device_label": f"{username} 手机"},
        )
    assert r.status_code == 201, r.text
    return r.json()["token"], r.json()["device_id"]


@pytest.fixture(scope="session")
def field_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The test area with two linked grid workers, a handler and an operator (committed)."""
    old = os.environ.get("GRIDGOV_MEDIA_DIR")
    os.environ["GRIDGOV_MEDIA_DIR"] = str(tmp_path_factory.mktemp("field_media"))
    eng = served_database("gridgov_test_field")
    with eng.begin() as conn:
        community = conn.execute(
            sa.text("SELECT id FROM communities WHERE code = :c"), {"c": WEST}
        ).scalar_one()
        for code in ("W-T1", "W-T2"):
            conn.execute(
                sa.text(
                    "INSERT INTO workers (code, name_zh, community_id) VALUES (:c, '测试', :m)"
                ),
                {"c": code, "m": community},
            )
        conn.execute(
            sa.text(
                "UPDATE grids SET worker_id = (SELECT id FROM workers WHERE code = 'W-T1') "
                "WHERE code = :g"
            ),
            {"g": f"{WEST}001"},
        )
        report = validate_report(
            service_code=category_with_department(conn), lon=120.605, lat=31.305, source="app"
        )
        probe = report_case(conn=conn, report=report, actor="t", role="operator")["case_id"]
        walk_to(conn, probe, "dispatched")
        department = conn.execute(
            sa.text(
                "SELECT d.code FROM cases c JOIN departments d ON d.id = c.department_id "
                "WHERE c.id = :i"
            ),
            {"i": probe},
        ).scalar_one()
        for username, role, area, dept in [
            ("gw1", "grid_worker", WEST, None),
            ("gw2", "grid_worker", WEST, None),
            ("handler1", "handler", None, department),
            ("op1", "operator", None, None),
        ]:
            add_user(
                conn=conn,
                username=username,
                password=PASSWORD,
                role=role,
                area=area,
                department_code=dept,
            )
    link_worker(eng, username="gw1", worker_code="W-T1")
    link_worker(eng, username="gw2", worker_code="W-T2")
    yield eng
    eng.dispose()
    if old is None:
        os.environ.pop("GRIDGOV_MEDIA_DIR", None)
    else:
        os.environ["GRIDGOV_MEDIA_DIR"] = old


@pytest.fixture(scope="session")
def field_app_engine(field_db: Engine) -> Iterator[Engine]:
    """The same database through the app's own login (a non-superuser: RLS applies)."""
    eng = app_login_engine(field_db)
    yield eng
    eng.dispose()
