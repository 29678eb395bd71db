"""Monthly partitions of cases, case_events and patrol_points (migration 0100), on PostGIS."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from layers import migrate, partitions
from tests.conftest import recreate_database
from tests.workflow.factories import STREET, T0, make_area, make_case, walk_to

FAR = datetime.fromisoformat("2031-07-15T10:00:00+00:00")
"""A month no ensure-ahead reaches: its rows wait in the default partitions."""


def _home(conn, table: str, where: str, params: dict | None = None) -> list[str]:
    return list(
        conn.execute(
            sa.text(f"SELECT DISTINCT tableoid::regclass::text FROM {table} WHERE {where}"),
            params or {},
        ).scalars()
    )


def _worker(conn) -> int:
    return conn.execute(
        sa.text("INSERT INTO workers (code, name_zh) VALUES ('w-part', '测试员') RETURNING id")
    ).scalar_one()


def _fix(conn, worker: int, at: datetime) -> int:
    return conn.execute(
        sa.text(f"""INSERT INTO patrol_points (worker_id, street_code, at, geom)
               VALUES (:w, '{STREET}', :at, ST_SetSRID(ST_MakePoint(120.61, 31.305), 4326))
               RETURNING id"""),
        {"w": worker, "at": at},
    ).scalar_one()


def test_the_three_tables_are_partitioned(conn):
    kinds = dict(
        conn.execute(
            sa.text("""SELECT relname, relkind FROM pg_class
                       WHERE relname IN ('cases', 'case_events', 'patrol_points')
                         AND relnamespace = 'public'::regnamespace""")
        ).all()
    )
    assert kinds == {"cases": "p", "case_events": "p", "patrol_points": "p"}


def test_rows_go_to_the_partition_of_their_month(conn):
    make_area(conn)
    partitions.ensure(conn, start=date(2026, 11, 1), end=date(2026, 11, 1))
    case = make_case(conn, at=T0)  # 2026-11-16 09:30 Suzhou
    assert _home(conn, "cases", "id = :i", {"i": case["case_id"]}) == ["cases_p2026_11"]
    assert _home(conn, "case_events", "case_id = :i", {"i": case["case_id"]}) == [
        "case_events_p2026_11"
    ]
    fix = _fix(conn, _worker(conn), datetime.fromisoformat("2026-11-30T23:59:59+00:00"))
    assert _home(conn, "patrol_points", "id = :i", {"i": fix}) == ["patrol_points_p2026_11"]
    # month boundaries are UTC: 08:00 on Dec 1st in Suzhou is midnight UTC
    fix = _fix(conn, _worker_again(conn), datetime.fromisoformat("2026-12-01T08:00:00+08:00"))
    partitions.ensure(conn, start=date(2026, 12, 1), end=date(2026, 12, 1))
    assert _home(conn, "patrol_points", "id = :i", {"i": fix}) == ["patrol_points_p2026_12"]


def _worker_again(conn) -> int:
    return conn.execute(sa.text("SELECT id FROM workers WHERE code = 'w-part'")).scalar_one()


def test_ensure_ahead_is_idempotent(conn):
    created = partitions.ensure(conn, start=date(2029, 1, 1), end=date(2029, 3, 1))
    assert sorted(created) == sorted(
        (t, f"{t}_p2029_{m:02d}") for t in partitions.TABLES for m in (1, 2, 3)
    )
    assert partitions.ensure(conn, start=date(2029, 1, 1), end=date(2029, 3, 1)) == []
    # ahead of today by default: this month and three more exist after the migration
    today = datetime.now(UTC).date()
    assert partitions.ensure(conn) == []
    names = {p.name for p in partitions.partitions(conn, exact=False)}
    assert partitions.partition_name("cases", today.replace(day=1)) in names


def test_a_month_without_partition_loses_nothing(conn):
    make_area(conn)
    case = make_case(conn, at=FAR)
    fix = _fix(conn, _worker(conn), FAR)
    assert _home(conn, "cases", "id = :i", {"i": case["case_id"]}) == ["cases_default"]
    assert _home(conn, "patrol_points", "id = :i", {"i": fix}) == ["patrol_points_default"]
    events = conn.execute(
        sa.text("SELECT count(*) FROM case_events WHERE case_id = :i"), {"i": case["case_id"]}
    ).scalar_one()
    created = partitions.ensure(conn, start=FAR, end=FAR)
    assert ("cases", "cases_p2031_07") in created
    # moved out of the default partitions into the new month, nothing lost
    assert _home(conn, "cases", "id = :i", {"i": case["case_id"]}) == ["cases_p2031_07"]
    assert _home(conn, "case_events", "case_id = :i", {"i": case["case_id"]}) == [
        "case_events_p2031_07"
    ]
    assert _home(conn, "patrol_points", "id = :i", {"i": fix}) == ["patrol_points_p2031_07"]
    assert (
        conn.execute(
            sa.text("SELECT count(*) FROM case_events WHERE case_id = :i"), {"i": case["case_id"]}
        ).scalar_one()
        == events
    )
    for table in partitions.TABLES:
        assert conn.execute(sa.text(f"SELECT count(*) FROM {table}_default")).scalar_one() == 0
    # the moved rows are still under the append-only rule and the triggers
    with pytest.raises(DBAPIError, match="append-only"), conn.begin_nested():
        conn.execute(sa.text("DELETE FROM case_events WHERE case_id = :i"), {"i": case["case_id"]})


def test_history_is_append_only_on_every_partition(conn):
    make_area(conn)
    partitions.ensure(conn, start=T0, end=T0)
    case = make_case(conn, at=T0)
    walk_to(conn, case["case_id"], "dispatched")
    part = _home(conn, "case_events", "case_id = :i", {"i": case["case_id"]})
    assert part == ["case_events_p2026_11"]
    for sql in (
        "UPDATE case_events SET reason = 'x' WHERE case_id = :i",
        "DELETE FROM case_events WHERE case_id = :i",
        "UPDATE case_events_p2026_11 SET reason = 'x' WHERE case_id = :i",
        "DELETE FROM case_events_p2026_11 WHERE case_id = :i",
    ):
        with pytest.raises(DBAPIError, match="append-only"), conn.begin_nested():
            conn.execute(sa.text(sql), {"i": case["case_id"]})


def test_rls_holds_through_the_parent_and_a_partition_refuses(conn):
    make_area(conn)
    partitions.ensure(conn, start=T0, end=T0)
    case = make_case(conn, at=T0)
    conn.execute(sa.text("SET LOCAL ROLE gridgov_grid_worker"))
    # no area set: the grid worker sees no case through the parent
    assert conn.execute(sa.text("SELECT count(*) FROM cases")).scalar_one() == 0
    conn.execute(sa.text(f"SELECT set_config('gridgov.area', '{STREET}', true)"))
    assert (
        conn.execute(
            sa.text("SELECT count(*) FROM cases WHERE id = :i"), {"i": case["case_id"]}
        ).scalar_one()
        == 1
    )
    for table in (
        "cases_p2026_11",
        "case_events_p2026_11",
        "patrol_points_p2026_11",
        "cases_default",
    ):
        with pytest.raises(DBAPIError, match="permission denied"), conn.begin_nested():
            conn.execute(sa.text(f"SELECT count(*) FROM {table}"))
    conn.execute(sa.text("RESET ROLE"))
    # even a grant given by mistake shows nothing: RLS is on with no policy on a partition
    conn.execute(sa.text("GRANT SELECT ON cases_p2026_11 TO gridgov_grid_worker"))
    conn.execute(sa.text("SET LOCAL ROLE gridgov_grid_worker"))
    assert conn.execute(sa.text("SELECT count(*) FROM cases_p2026_11")).scalar_one() == 0
    conn.execute(sa.text("RESET ROLE"))
    assert conn.execute(sa.text("SELECT count(*) FROM cases_p2026_11")).scalar_one() >= 1


def test_case_keys_are_global(conn):
    make_area(conn)
    partitions.ensure(conn, start=T0, end=FAR)
    first = make_case(conn, at=T0)
    later = make_case(conn, at=FAR)
    no = conn.execute(
        sa.text("SELECT case_no FROM cases WHERE id = :i"), {"i": first["case_id"]}
    ).scalar_one()
    # a second case with the same number in another month is refused
    with pytest.raises(DBAPIError, match="case_keys_case_no_key"), conn.begin_nested():
        conn.execute(
            sa.text("UPDATE cases SET case_no = :n WHERE id = :i"),
            {"n": no, "i": later["case_id"]},
        )
    with pytest.raises(DBAPIError, match="case_keys_pkey"), conn.begin_nested():
        conn.execute(
            sa.text("""INSERT INTO cases (id, case_no, category_id, street_code, source, status,
                       reported_at, geom)
                       SELECT id, 'other', category_id, street_code, source, status,
                              reported_at + interval '40 days', geom
                       FROM cases WHERE id = :i"""),
            {"i": first["case_id"]},
        )
    # the month of a case does not change
    with pytest.raises(DBAPIError, match="do not change"), conn.begin_nested():
        conn.execute(
            sa.text(
                "UPDATE cases SET reported_at = reported_at - interval '40 days' WHERE id = :i"
            ),
            {"i": first["case_id"]},
        )
    # a case that others refer to cannot go; its key stays with it
    with pytest.raises(DBAPIError, match="foreign key"), conn.begin_nested():
        conn.execute(sa.text("DELETE FROM cases WHERE id = :i"), {"i": first["case_id"]})
    keys = conn.execute(sa.text("SELECT count(*) FROM case_keys")).scalar_one()
    assert keys == conn.execute(sa.text("SELECT count(*) FROM cases")).scalar_one()


def test_list_counts_rows_and_size(conn):
    make_area(conn)
    partitions.ensure(conn, start=T0, end=T0)
    before = {p.name: p.rows for p in partitions.partitions(conn)}
    make_case(conn, at=T0)
    after = {p.name: p for p in partitions.partitions(conn)}
    assert after["cases_p2026_11"].rows == before["cases_p2026_11"] + 1
    assert after["cases_p2026_11"].month == "2026-11"
    assert after["cases_default"].month is None
    assert after["cases_p2026_11"].bytes > 0


def test_bad_month_is_named():
    with pytest.raises(partitions.PartitionError, match="YYYY-MM"):
        partitions.parse_month("2026-13")


COUNTED = ("cases", "case_events", "patrol_points", "case_assignments", "reporters", "case_keys")


def _counts(eng) -> dict[str, int]:
    with eng.connect() as c:
        have = set(c.execute(sa.text("SELECT tablename FROM pg_tables")).scalars())
        return {
            t: c.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in COUNTED
            if t in have
        }


def test_migration_moves_existing_rows_and_back():
    from layers.catalogue import load_catalogue

    eng = recreate_database("gridgov_test_partition_migration")
    try:
        migrate.upgrade(eng, "0095")
        with eng.begin() as c:
            load_catalogue(c)
            make_area(c)
            worker = _worker(c)
            for month in (3, 7, 11):
                at = datetime(2026, month, 16, 9, 30, tzinfo=T0.tzinfo)
                case = make_case(c, at=at)
                walk_to(c, case["case_id"], "dispatched", at=at)
                _fix(c, worker, at)
        before = _counts(eng)
        assert before["cases"] == 3 and before["case_assignments"] >= 3
        migrate.upgrade(eng)
        after = _counts(eng)
        assert {t: after[t] for t in before} == before
        assert after["case_keys"] == before["cases"]
        with eng.connect() as c:
            assert sorted(_home(c, "cases", "true")) == [
                "cases_p2026_03",
                "cases_p2026_07",
                "cases_p2026_11",
            ]
            missing = c.execute(
                sa.text("SELECT count(*) FROM case_assignments WHERE event_at IS NULL")
            ).scalar_one()
            assert missing == 0
        # the workflow still runs on the partitioned tables
        with eng.begin() as c:
            case = make_case(c, at=T0)
            walk_to(c, case["case_id"], "dispatched")
        now = _counts(eng)
        assert now["cases"] == before["cases"] + 1
        migrate.downgrade(eng, "0095")
        back = _counts(eng)
        assert back == {t: now[t] for t in back}
        assert "case_keys" not in back
        with eng.connect() as c:
            kind = c.execute(sa.text("SELECT relkind FROM pg_class WHERE relname = 'cases'"))
            assert kind.scalar_one() == "r"
        migrate.upgrade(eng)
        assert _counts(eng)["cases"] == now["cases"]
    finally:
        eng.dispose()


def test_detach_to_archive_and_attach_back(conn, tmp_path):
    make_area(conn)
    partitions.ensure(conn, start=FAR, end=FAR)
    worker = _worker(conn)
    cases = [make_case(conn, at=FAR.replace(day=d)) for d in (3, 9, 20)]
    for c in cases[:2]:
        walk_to(conn, c["case_id"], "dispatched", at=FAR.replace(day=25))
    for minute in range(5):
        _fix(conn, worker, FAR.replace(minute=minute))
    month = f"{FAR:%Y-%m}"
    where = "reported_at >= '2031-07-01' AND reported_at < '2031-08-01'"
    count = {
        "cases": f"SELECT count(*) FROM cases WHERE {where}",
        "case_keys": f"SELECT count(*) FROM case_keys WHERE {where}",
        "case_events": "SELECT count(*) FROM case_events "
        "WHERE at >= '2031-07-01' AND at < '2031-08-01'",
        "patrol_points": "SELECT count(*) FROM patrol_points WHERE at >= '2031-07-01'",
        "reporters": "SELECT count(*) FROM reporters r JOIN case_keys k ON k.id = r.case_id "
        f"WHERE k.{where}",
        "case_assignments": "SELECT count(*) FROM case_assignments WHERE event_at >= '2031-07-01'",
    }
    before = {k: conn.execute(sa.text(q)).scalar_one() for k, q in count.items()}
    assert before["cases"] == 3 and before["patrol_points"] == 5
    assert before["reporters"] == 3 and before["case_assignments"] >= 2
    whole = {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in count}

    account = partitions.detach(conn, month, str(tmp_path))
    assert account["tables"]["cases"]["rows"] == 3
    assert account["tables"]["case_events"]["rows"] == before["case_events"]
    assert account["tables"]["patrol_points"]["rows"] == 5
    assert account["tables"]["reporters"]["rows"] == 3
    assert (tmp_path / month / "account.json").exists()
    # the month is gone from the database, the rest is untouched
    names = {p.name for p in partitions.partitions(conn, exact=False)}
    assert not {f"{t}_p2031_07" for t in partitions.TABLES} & names
    for k, q in count.items():
        assert conn.execute(sa.text(q)).scalar_one() == 0, k
    for t, n in whole.items():
        left = conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
        assert left == n - before[t], t
    # GeoParquet with the geometry
    import geopandas as gpd

    shapes = gpd.read_parquet(tmp_path / month / "cases.parquet")
    assert shapes.crs.to_epsg() == 4326 and len(shapes) == 3
    fixes = gpd.read_parquet(tmp_path / month / "patrol_points" / "workers-000-of-001.parquet")
    assert fixes.crs.to_epsg() == 4326 and len(fixes) == 5

    back = partitions.attach(conn, month, str(tmp_path))
    assert back == account
    assert {k: conn.execute(sa.text(q)).scalar_one() for k, q in count.items()} == before
    assert _home(conn, "cases", where) == ["cases_p2031_07"]
    # the history is whole again and still append-only
    walk = conn.execute(
        sa.text("SELECT count(*) FROM case_history_violations(100) WHERE case_id = :i"),
        {"i": cases[0]["case_id"]},
    ).scalar_one()
    assert walk == 0
    with pytest.raises(DBAPIError, match="append-only"), conn.begin_nested():
        conn.execute(sa.text("DELETE FROM case_events_p2031_07"))


def test_a_month_of_fixes_is_archived_by_worker_group(conn, tmp_path, monkeypatch):
    """Each file holds every fix of its workers (worker_id % N), so the coverage job reads the
    archive in parts; attach reads the files back."""
    import geopandas as gpd

    from gis import fix_archive

    monkeypatch.setattr(fix_archive, "FIXES_PER_FILE", 3)
    make_area(conn)
    partitions.ensure(conn, start=FAR, end=FAR)
    workers = [
        conn.execute(
            sa.text("INSERT INTO workers (code, name_zh) VALUES (:c, '测试员') RETURNING id"),
            {"c": f"w-group-{i}"},
        ).scalar_one()
        for i in range(3)
    ]
    for minute in range(4):  # 12 fixes: 4 files of 3 at most
        for worker in workers:
            _fix(conn, worker, FAR.replace(minute=minute))
    month = f"{FAR:%Y-%m}"
    account = partitions.detach(conn, month, str(tmp_path))
    assert account["tables"]["patrol_points"] == {"rows": 12, "file": "patrol_points"}
    folder = tmp_path / month / "patrol_points"
    names = sorted(p.name for p in folder.iterdir())
    assert names == [fix_archive.file_name(i, 4) for i in range(4)]
    seen: list[int] = []
    for i, name in enumerate(names):
        part = gpd.read_parquet(folder / name)
        assert set(part.worker_id % 4) <= {i}
        keys = list(zip(part.worker_id, part["at"], strict=True))
        assert keys == sorted(keys)
        seen += part.worker_id.tolist()
    assert sorted(seen) == sorted(workers * 4)
    assert fix_archive.archive_parts(tmp_path) == [[str(folder / n)] for n in names]
    partitions.attach(conn, month, str(tmp_path))
    back = conn.execute(
        sa.text("SELECT count(*) FROM patrol_points WHERE worker_id = ANY(:w)"),
        {"w": workers},
    ).scalar_one()
    assert back == 12


def test_attach_refuses_an_account_that_does_not_add_up(conn, tmp_path):
    import json

    make_area(conn)
    partitions.ensure(conn, start=FAR, end=FAR)
    make_case(conn, at=FAR)
    month = f"{FAR:%Y-%m}"
    partitions.detach(conn, month, str(tmp_path))
    path = tmp_path / month / "account.json"
    account = json.loads(path.read_text())
    account["tables"]["cases"]["rows"] += 1
    path.write_text(json.dumps(account))
    with pytest.raises(partitions.PartitionError, match="account"):
        partitions.attach(conn, month, str(tmp_path))


def test_detach_refuses_a_month_still_referred_to(conn, tmp_path):
    make_area(conn)
    partitions.ensure(conn, start=FAR, end=FAR.replace(month=8))
    case = make_case(conn, at=FAR)
    walk_to(conn, case["case_id"], "accepted", at=FAR.replace(month=8))
    with pytest.raises(partitions.PartitionError, match="other months"):
        partitions.detach(conn, f"{FAR:%Y-%m}", str(tmp_path))
    assert _home(conn, "cases", "id = :i", {"i": case["case_id"]}) == ["cases_p2031_07"]


def test_a_month_query_reads_only_its_partition(conn):
    partitions.ensure(conn, start=date(2026, 10, 1), end=date(2026, 12, 1))
    plan = "\n".join(
        conn.execute(
            sa.text("""EXPLAIN SELECT count(*) FROM cases
                       WHERE reported_at >= '2026-11-01T00:00:00Z'
                         AND reported_at < '2026-12-01T00:00:00Z'""")
        ).scalars()
    )
    assert "cases_p2026_11" in plan
    assert "cases_p2026_10" not in plan and "cases_p2026_12" not in plan
    assert "cases_default" not in plan


def test_case_keys_compare_bytes_and_their_lookups_still_use_their_indexes(conn):
    """case_keys' identifiers are in the "C" collation (migration 0130): unique as before,
    found by a value or a column of the database's collation through their indexes."""
    collations = dict(
        conn.execute(
            sa.text("""
            SELECT a.attname, c.collname FROM pg_attribute a
            JOIN pg_collation c ON c.oid = a.attcollation
            WHERE a.attrelid = 'case_keys'::regclass
              AND a.attname IN ('case_no', 'source_system', 'source_id')
        """)
        ).all()
    )
    assert collations == {"case_no": "C", "source_system": "C", "source_id": "C"}
    make_area(conn)
    case = make_case(conn, at=T0)
    no = conn.execute(
        sa.text("SELECT case_no FROM cases WHERE id = :i"), {"i": case["case_id"]}
    ).scalar_one()
    conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
    plan = "\n".join(
        conn.execute(
            sa.text("EXPLAIN SELECT id FROM case_keys WHERE case_no = :n"), {"n": no}
        ).scalars()
    )
    assert "case_keys_case_no_key" in plan
    # against a column of the database's collation (the loaders' staging tables)
    joined = conn.execute(
        sa.text("""
        SELECT k.id FROM (SELECT CAST(:n AS text) AS case_no) s
        JOIN case_keys k ON k.case_no = s.case_no
    """),
        {"n": no},
    ).scalar_one()
    assert joined == case["case_id"]


def test_attaching_a_month_probes_its_keys_and_leaves_the_settings_as_they_were(conn):
    """layers.bulk_months: a stripped month refuses a row outside it (its bounds checked
    as rows come in), and its attach runs with merge and hash joins off, then restores
    them; an error inside rolls them back with the transaction."""
    from layers.bulk_months import attach, probing_joins, strip

    def setting(name: str) -> str:
        return conn.execute(sa.text("SELECT current_setting(:g)"), {"g": name}).scalar_one()

    make_area(conn)
    partitions.ensure(conn, start=T0, end=T0)
    month = date(T0.year, T0.month, 1)
    leaf = f"case_events_p{month:%Y_%m}"
    conn.execute(sa.text("SET LOCAL enable_hashjoin = off"))  # a setting of the caller's own
    part = strip(conn, "case_events", leaf, month)
    with pytest.raises(DBAPIError, match="_bounds"), conn.begin_nested():
        conn.execute(
            sa.text(f"""INSERT INTO "{leaf}"
                        (id, case_id, street_code, at, actor, role, action, to_status)
                        VALUES (1, 1, '{STREET}', :at, 'x', 'system', 'import', 'reported')"""),
            {"at": FAR},
        )
    with probing_joins(conn):
        assert (setting("enable_mergejoin"), setting("enable_hashjoin")) == ("off", "off")
    assert (setting("enable_mergejoin"), setting("enable_hashjoin")) == ("on", "off")
    attach(conn, part)
    assert (setting("enable_mergejoin"), setting("enable_hashjoin")) == ("on", "off")
    attached = conn.execute(
        sa.text("""SELECT count(*) FROM pg_inherits WHERE inhparent = 'case_events'::regclass
                   AND inhrelid = CAST(:l AS regclass)"""),
        {"l": leaf},
    ).scalar_one()
    bounds = conn.execute(
        sa.text("SELECT count(*) FROM pg_constraint WHERE conname = :c"), {"c": f"{leaf}_bounds"}
    ).scalar_one()
    assert (attached, bounds) == (1, 0)
    conn.execute(sa.text("SET LOCAL enable_hashjoin = on"))
    with pytest.raises(DBAPIError), conn.begin_nested(), probing_joins(conn):
        conn.execute(sa.text("SELECT 1 / 0"))
    assert (setting("enable_mergejoin"), setting("enable_hashjoin")) == ("on", "on")
