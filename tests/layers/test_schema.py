"""Rules the database itself enforces."""

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, IntegrityError

POINT = "ST_SetSRID(ST_Point(120.63, 31.31), 4326)"
SQUARE = "ST_Multi(ST_SetSRID(ST_MakeEnvelope(120.62, 31.30, 120.64, 31.32), 4326))"


def _make_case(conn) -> int:
    conn.execute(
        sa.text(
            f"INSERT INTO streets (id, code, name_zh, geom) "
            f"VALUES (900, '320508099', '测试街道', {SQUARE})"
        )
    )
    category = conn.execute(
        sa.text("SELECT id FROM categories WHERE service_code = 'E0504'")
    ).scalar_one()
    case_id = conn.execute(
        sa.text(f"""
        INSERT INTO cases (case_no, category_id, street_code, source, status, reported_at, geom)
        VALUES ('T1', :c, '320508099', 'app', 'reported', now(), {POINT}) RETURNING id
    """),
        {"c": category},
    ).scalar_one()
    conn.execute(
        sa.text("""
        INSERT INTO case_events (case_id, street_code, at, actor, role, action, to_status)
        VALUES (:id, '320508099', now(), 'resident', 'resident', 'report', 'reported')
    """),
        {"id": case_id},
    )
    return case_id


def test_case_history_is_append_only(conn):
    case_id = _make_case(conn)
    with pytest.raises(DBAPIError, match="append-only"), conn.begin_nested():
        conn.execute(
            sa.text("UPDATE case_events SET actor = 'someone else' WHERE case_id = :id"),
            {"id": case_id},
        )
    with pytest.raises(DBAPIError, match="append-only"), conn.begin_nested():
        conn.execute(sa.text("DELETE FROM case_events WHERE case_id = :id"), {"id": case_id})


def test_a_case_needs_a_known_status_and_source(conn):
    _make_case(conn)
    category = conn.execute(
        sa.text("SELECT id FROM categories WHERE service_code = 'E0504'")
    ).scalar_one()
    for column, value in (("status", "lost_in_space"), ("source", "pigeon")):
        values = {"status": "reported", "source": "app"} | {column: value}
        with pytest.raises(IntegrityError), conn.begin_nested():
            conn.execute(
                sa.text(f"""
                INSERT INTO cases (case_no, category_id, street_code, source, status,
                                   reported_at, geom)
                VALUES ('T2', :c, '320508099', :source, :status, now(), {POINT})
            """),
                {"c": category, **values},
            )


def test_only_one_current_version_of_a_grid(conn):
    _make_case(conn)
    conn.execute(
        sa.text(f"""INSERT INTO communities (id, code, street_id, name_zh, geom)
                             VALUES (900, '320508099001', 900, '测试社区', {SQUARE})""")
    )
    insert = sa.text(f"""INSERT INTO grids (code, community_id, households, valid_from, valid_to,
                                            geom)
                         VALUES ('320508099001001', 900, 400, :f, :t, {SQUARE})""")
    conn.execute(insert, {"f": "2025-01-01", "t": "2026-01-01"})
    conn.execute(insert, {"f": "2026-01-01", "t": None})
    with pytest.raises(IntegrityError), conn.begin_nested():
        conn.execute(insert, {"f": "2026-06-01", "t": None})
    assert (
        conn.execute(
            sa.text("SELECT count(*) FROM grids_current WHERE code = '320508099001001'")
        ).scalar_one()
        == 1
    )


def test_reporters_are_masked_in_the_masked_view(conn):
    case_id = _make_case(conn)
    conn.execute(
        sa.text(
            "INSERT INTO reporters (case_id, name, phone, channel) "
            "VALUES (:id, '王小明', '13812345678', 'app')"
        ),
        {"id": case_id},
    )
    name, phone = conn.execute(
        sa.text("SELECT name, phone FROM reporters_masked WHERE case_id = :id"), {"id": case_id}
    ).one()
    assert name == "王**" and phone == "138****5678"
