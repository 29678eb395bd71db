"""Helpers of the residents' app tests: a served database, photos, and the command centre.

The command-centre side is driven through :func:`services.case_commands.take_action`, the
call the dashboard's buttons make, one scope per role.
"""

from __future__ import annotations

import io
import secrets
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from PIL import Image
from sqlalchemy.engine import Engine

from services.case_commands import ActionRequest, photo_for_action, take_action
from services.uow import Scope
from tests.workflow.factories import STREET

PLANTED_PHONE = "13912345678"
"""A phone number planted in free text: it must never appear on a public page."""
PLANTED_ID = "320508199001011234"


APP_LOGIN = "gridgov_test_resapp"
"""The residents' tests' own app login (``tests.conftest.app_login_engine``'s login is shared
by every test run on the cluster, and each call changes its password)."""


def resident_app_login(admin: Engine) -> Engine:
    """An engine on ``admin``'s database logging in as the app does: a non-superuser member
    of ``gridgov_app`` (migration 0013) and nothing else."""
    password = secrets.token_urlsafe(18)
    with admin.connect() as conn, conn.begin():
        conn.execute(
            sa.text(f"""
            DO $$ BEGIN
                IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_LOGIN}') THEN
                    CREATE ROLE {APP_LOGIN} LOGIN;
                END IF;
            END $$""")
        )
        conn.execute(
            sa.text(f"ALTER ROLE {APP_LOGIN} LOGIN INHERIT NOSUPERUSER PASSWORD '{password}'")
        )
        conn.execute(sa.text(f"GRANT gridgov_app TO {APP_LOGIN}"))
    return sa.create_engine(admin.url.set(username=APP_LOGIN, password=password))


def photo_with_gps(colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    """A small JPEG carrying EXIF GPS and camera fields (what stripping must remove)."""
    img = Image.new("RGB", (64, 48), colour)
    exif = Image.Exif()
    exif[0x010F] = "PlantedCameraMaker"  # Make
    exif[0x0110] = "PlantedPhoneModel"  # Model
    gps = {1: "N", 2: (31.0, 18.0, 18.0), 3: "E", 4: (120.0, 36.0, 18.0)}
    exif[0x8825] = gps
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG", exif=exif.tobytes())
    return buffer.getvalue()


def new_id() -> str:
    return secrets.token_urlsafe(12)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def case_row(engine: Engine, case_no: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = (
            conn.execute(
                sa.text(
                    "SELECT c.id, c.status, c.version, c.satisfaction, c.reopen_count, "
                    "d.code AS department FROM cases c "
                    "LEFT JOIN departments d ON d.id = c.department_id WHERE c.case_no = :n"
                ),
                {"n": case_no},
            )
            .mappings()
            .one()
        )
    return dict(row)


STEPS = ["accept", "register", "dispatch", "start", "handle", "check", "close"]
ROLE_OF = {
    "accept": "operator",
    "register": "operator",
    "dispatch": "dispatcher",
    "start": "handler",
    "handle": "handler",
    "check": "grid_worker",
    "close": "operator",
}


def command_centre(
    engine: Engine, case_no: str, *, until: str = "close", now: datetime | None = None
) -> None:
    """Take a case along the loop up to ``until`` as the dashboard does (one scope per
    role; the handler's "handled" carries a stored after-photo)."""
    row = case_row(engine, case_no)
    start = {"reported": 0, "dispatched": 3, "in_handling": 4}[row["status"]]
    for action in STEPS[start : STEPS.index(until) + 1]:
        row = case_row(engine, case_no)
        role = ROLE_OF[action]
        scope = Scope(
            role,
            STREET if role == "grid_worker" else None,
            row["department"] if role == "handler" else None,
        )
        case_id, version = int(row["id"]), int(row["version"])
        if action == "handle":
            with photo_for_action(
                photo_with_gps((30, 160, 60)), case_id=int(row["id"]), name="after.jpg"
            ) as record:
                take_action(
                    engine,
                    scope=scope,
                    actor="handler1",
                    request=ActionRequest(
                        case_id, action, version, reason="已修复 fixed", attachments=[record]
                    ),
                    now=now,
                )
        else:
            take_action(
                engine,
                scope=scope,
                actor=f"{role}1",
                request=ActionRequest(case_id, action, version),
                now=now,
            )
