"""Factories for workflow tests: a tiny served area and cases walked to any status."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from city import time_zone
from layers.workflow.access import Scope, enter_scope, leave_scope
from layers.workflow.cases_api import report_case, validate_report
from layers.workflow.dispatch import dispatch_case
from layers.workflow.transitions import transition

TZ = time_zone()
STREET = "320508901"
WEST = "320508901001"
EAST = "320508901002"
# a 2 km x 1 km street near Suzhou, split at lon 120.62 into two communities
X0, X1, XM, Y0, Y1 = 120.60, 120.64, 120.62, 31.30, 31.31
INSIDE_WEST = (120.605, 31.305)
INSIDE_EAST = (120.635, 31.305)
ON_BOUNDARY = (XM, 31.305)
OUTSIDE = (121.0, 31.0)
T0 = datetime(2026, 11, 16, 9, 30, tzinfo=TZ)  # a Monday


@contextmanager
def in_scope(
    *, conn: Connection, role: str, area: str | None = None, department_id: int | None = None
) -> Iterator[None]:
    """Act as ``role`` (in ``area``, for department ``department_id``) inside the block only,
    then back to the test login's rights in the same transaction (tests switch roles)."""
    code = None
    if department_id is not None:
        code = conn.execute(
            sa.text("SELECT code FROM departments WHERE id = :i"), {"i": department_id}
        ).scalar_one()
    enter_scope(conn=conn, scope=Scope(role, area, code))
    try:
        yield
    finally:
        raw = conn.connection.driver_connection
        aborted = getattr(getattr(raw, "info", None), "transaction_status", 0) == 3  # INERROR
        if conn.in_transaction() and not aborted:
            leave_scope(conn=conn)


def _box(x0: float, y0: float, x1: float, y1: float) -> str:
    return f"ST_Multi(ST_MakeEnvelope({x0}, {y0}, {x1}, {y1}, 4326))"


def make_area(conn: Connection) -> dict[str, int]:
    """One street, two communities (west, east) with a grid each, and their departments."""
    street_id = conn.execute(
        sa.text(f"""
        INSERT INTO streets (code, name_zh, name_en, geom)
        VALUES ('{STREET}', '测试街道', 'Test street', {_box(X0, Y0, X1, Y1)}) RETURNING id
    """)
    ).scalar_one()
    ids: dict[str, int] = {"street": street_id}
    for name, code, (x0, x1) in [("west", WEST, (X0, XM)), ("east", EAST, (XM, X1))]:
        cid = conn.execute(
            sa.text(f"""
            INSERT INTO communities (code, street_id, name_zh, name_en, geom)
            VALUES ('{code}', :s, '{name}', '{name}', {_box(x0, Y0, x1, Y1)}) RETURNING id
        """),
            {"s": street_id},
        ).scalar_one()
        ids[name] = cid
        conn.execute(
            sa.text(f"""
            INSERT INTO grids (code, community_id, households, valid_from, geom)
            VALUES ('{code}001', :c, 400, '2025-01-01', {_box(x0, Y0, x1, Y1)})
        """),
            {"c": cid},
        )
        ids[f"dept_{name}"] = conn.execute(
            sa.text("""
            INSERT INTO departments (code, kind, name_zh, street_id, community_id)
            VALUES (:code, 'community', :code, :s, :c) RETURNING id
        """),
            {"code": code, "s": street_id, "c": cid},
        ).scalar_one()
    ids["dept_street"] = conn.execute(
        sa.text("""
        INSERT INTO departments (code, kind, name_zh, street_id)
        VALUES (:code, 'street', 'street office', :s) RETURNING id
    """),
        {"code": STREET, "s": street_id},
    ).scalar_one()
    return ids


def category_with_department(conn: Connection) -> str:
    """A minor category that has a statutory department."""
    return conn.execute(
        sa.text(
            "SELECT service_code FROM categories WHERE level = 2 "
            "AND default_department_id IS NOT NULL ORDER BY service_code LIMIT 1"
        )
    ).scalar_one()


def category_without_department(conn: Connection) -> str:
    """A minor category with no responsibility rule (territorial routing)."""
    code = conn.execute(
        sa.text(
            "SELECT service_code FROM categories k WHERE level = 2 AND NOT EXISTS "
            "(SELECT 1 FROM responsibility_rules r WHERE r.category_id = k.id) "
            "ORDER BY service_code LIMIT 1"
        )
    ).scalar()
    if code is None:  # every category has a rule: make one rule-less
        code = category_with_department(conn)
        conn.execute(
            sa.text(
                "DELETE FROM responsibility_rules WHERE category_id = "
                "(SELECT id FROM categories WHERE service_code = :c)"
            ),
            {"c": code},
        )
    return code


def make_case(
    conn: Connection,
    *,
    service_code: str | None = None,
    where: tuple[float, float] = INSIDE_WEST,
    at: datetime = T0,
    role: str = "operator",
    reporter: tuple[str, str] | None = ("张三丰", "13812345678"),
) -> dict:
    """Report one case (status reported, version 1)."""
    code = service_code or category_with_department(conn)
    report = validate_report(service_code=code, lon=where[0], lat=where[1], source="app")
    return report_case(
        conn=conn,
        report=report,
        actor="tester",
        role=role,
        at=at,
        reporter_name=reporter[0] if reporter else None,
        reporter_phone=reporter[1] if reporter else None,
    )


PHOTO = [{"type": "photo", "url": "https://example.org/fixed.jpg"}]
WALK = [
    ("accept", "operator", {}),
    ("register", "operator", {}),
    ("dispatch", "dispatcher", {}),
    ("start", "handler", {}),
    ("handle", "handler", {"reason": "fixed", "attachments": PHOTO}),
    ("check", "grid_worker", {}),
    ("close", "operator", {}),
]
WALK_STATUS = [
    "accepted",
    "registered",
    "dispatched",
    "in_handling",
    "handled",
    "checked",
    "closed",
]


def walk_to(conn: Connection, case_id: int, status: str, at: datetime = T0) -> int:
    """Take a reported case along the normal loop up to ``status``; return its version."""
    conn.execute(sa.text(f"SELECT set_config('gridgov.area', '{STREET}', true)"))
    version = 1
    if status == "reported":
        return version
    for (action, role, extra), reached in zip(WALK, WALK_STATUS, strict=True):
        if action == "dispatch":
            result = dispatch_case(
                conn=conn, case_id=case_id, actor="dp", role=role, expected_version=version, at=at
            )
        else:
            result = transition(
                conn=conn,
                case_id=case_id,
                action=action,
                actor="t",
                role=role,
                expected_version=version,
                at=at,
                **extra,
            )
        version = result.version
        if reached == status:
            return version
    raise ValueError(f"the normal loop does not pass through {status}")


def served_database(name: str):  # type: ignore[no-untyped-def]
    """A new committed database ``name``: migrated, catalogue and the test area loaded."""
    from layers import migrate
    from layers.catalogue import load_catalogue
    from tests.conftest import recreate_database

    eng = recreate_database(name)
    migrate.upgrade(eng)
    with eng.begin() as c:
        load_catalogue(c)
        make_area(c)
    return eng
