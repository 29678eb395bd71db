"""A writable copy of the small demo district for tests that act on cases."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from layers import migrate
from layers.demo import load_demo
from layers.workflow.cases_api import report_case, validate_report
from layers.workflow.dispatch import dispatch_case
from layers.workflow.transitions import transition
from tests.conftest import recreate_database
from tests.workflow.factories import in_scope


def scratch_district(small_district, name: str) -> Engine:  # type: ignore[no-untyped-def]
    """A fresh database ``name`` holding the small demo district (with its demo users)."""
    engine = recreate_database(name)
    migrate.upgrade(engine)
    with engine.begin() as conn:
        load_demo(conn, small_district)
    return engine


def new_case(engine: Engine, *, upto: str = "reported") -> tuple[int, str]:
    """Report a case in the first community (as an operator), and take it on to ``upto``
    (``reported``, ``accepted``, ``registered``, or ``in_handling`` — dispatched to the
    demo handler's department, which started it); returns (id, case_no)."""
    with engine.begin() as conn:
        service, lon, lat = conn.execute(
            sa.text("""
            SELECT k.service_code, ST_X(p), ST_Y(p)
            FROM (SELECT ST_PointOnSurface(geom) AS p FROM communities ORDER BY code LIMIT 1) c,
                 categories k WHERE k.kind = 'event' AND k.level = 2
                 ORDER BY k.service_code LIMIT 1""")
        ).one()
        with in_scope(conn=conn, role="operator"):
            case = report_case(
                conn=conn,
                report=validate_report(
                    service_code=service, lon=lon, lat=lat, description="test case / 测试案件"
                ),
                actor="test",
                role="operator",
                reporter_name="张三",
                reporter_phone="13800001234",
            )
            version = case["version"]
            for action in {"reported": [], "accepted": ["accept"]}.get(
                upto, ["accept", "register"]
            ):
                version = transition(
                    conn=conn,
                    case_id=case["case_id"],
                    action=action,
                    actor="test",
                    role="operator",
                    expected_version=version,
                ).version
        if upto == "in_handling":
            department, department_id = conn.execute(
                sa.text("""SELECT d.code, d.id FROM app_users u
                           JOIN departments d ON d.code = u.department_code
                           WHERE u.username = 'handler'""")
            ).one()
            with in_scope(conn=conn, role="shift_leader"):  # designates the department
                version = dispatch_case(
                    conn=conn,
                    case_id=case["case_id"],
                    actor="test",
                    role="shift_leader",
                    expected_version=version,
                    at=datetime.now(UTC),
                    department_code=department,
                    rule="designated",
                    reason="test: the demo handler's department",
                ).version
            with in_scope(conn=conn, role="handler", department_id=department_id):
                transition(
                    conn=conn,
                    case_id=case["case_id"],
                    action="start",
                    actor="test",
                    role="handler",
                    expected_version=version,
                )
    return int(case["case_id"]), str(case["case_no"])
