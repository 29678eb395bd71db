"""The Alembic migration: upgrade builds the layers, downgrade removes them, both repeatable."""

import sqlalchemy as sa

from layers import migrate
from tests.conftest import recreate_database

LAYERS = {
    "streets",
    "communities",
    "roads",
    "buildings",
    "workers",
    "grids",
    "departments",
    "categories",
    "responsibility_rules",
    "parts",
    "case_statuses",
    "cases",
    "case_events",
    "reporters",
    "patrol_points",
    "patrols",
    "gridgov_meta",
}


def _tables(engine):
    return set(sa.inspect(engine).get_table_names())


def test_upgrade_downgrade_upgrade():
    engine = recreate_database("gridgov_test_migrations")
    try:
        migrate.upgrade(engine)
        assert _tables(engine) >= LAYERS
        assert migrate.current_revision(engine) == migrate.head_revision()
        migrate.downgrade(engine, "base")
        assert not (LAYERS & _tables(engine))
        assert migrate.current_revision(engine) is None
        migrate.upgrade(engine)
        assert _tables(engine) >= LAYERS
    finally:
        engine.dispose()


def test_every_geometry_is_srid_4326_and_gist_indexed(conn):
    columns = conn.execute(
        sa.text(
            "SELECT f_table_name, f_geometry_column, srid, type FROM geometry_columns "
            "WHERE f_table_schema = 'public'"
        )
    ).all()
    assert {(t, c) for t, c, _, _ in columns} >= {
        ("cases", "geom"),
        ("grids", "geom"),
        ("parts", "geom"),
        ("patrols", "geom"),
    }
    assert all(srid == 4326 for _, _, srid, _ in columns)
    assert all(kind != "GEOMETRY" for _, _, _, kind in columns), "one geometry type per column"
    indexed = {
        row[0]
        for row in conn.execute(
            sa.text("""
        SELECT t.relname || '.' || a.attname FROM pg_index x
        JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_am am ON am.oid = i.relam
        JOIN pg_class t ON t.oid = x.indrelid
        JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY(x.indkey)
        WHERE am.amname = 'gist'""")
        )
    }
    tables = {t for t, c, _, _ in columns if c == "geom"} - {"grids_current"}
    assert {f"{t}.geom" for t in tables} <= indexed


PARTITION_KEYS = {"cases": "reported_at", "case_events": "at", "patrol_points": "at"}
"""Monthly partitioned (0100): a key must hold the partition key, so id comes first and
the month column second; the id alone stays unique (case_keys for cases, the identity
sequence for the others), which is what QGIS asks of its key column."""


def test_every_layer_has_an_integer_primary_key_for_qgis(conn):
    inspector = sa.inspect(conn)
    for table in LAYERS - {"gridgov_meta", "case_statuses"}:
        pk = inspector.get_pk_constraint(table)["constrained_columns"]
        wanted = ["id", PARTITION_KEYS[table]] if table in PARTITION_KEYS else ["id"]
        assert pk == wanted, table
        id_type = next(c["type"] for c in inspector.get_columns(table) if c["name"] == "id")
        assert isinstance(id_type, sa.Integer), table


def test_one_migration_head():
    # later migrations chain from one another: several heads mean an upgrade order by chance
    assert "+" not in migrate.head_revision()


def test_case_ids_stay_unique_across_partitions(conn):
    # the global key of a case lives in case_keys: its primary key is the id alone
    pk = sa.inspect(conn).get_pk_constraint("case_keys")["constrained_columns"]
    assert pk == ["id"]


def _jit_setting(engine) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("""
            SELECT unnest(setconfig) FROM pg_db_role_setting
            WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND setrole = 0
        """)
        ).scalars()
        return [r for r in rows if r.startswith("jit=")]


def test_the_database_runs_without_jit_and_a_downgrade_gives_it_back():
    engine = recreate_database("gridgov_test_migrations")
    try:
        assert _jit_setting(engine) == []
        migrate.upgrade(engine)
        assert _jit_setting(engine) == ["jit=off"]
        migrate.downgrade(engine, "0130_case_keys_c_collation")
        assert _jit_setting(engine) == []
    finally:
        engine.dispose()


def test_a_login_that_does_not_own_the_database_is_told_and_not_stopped(conn):
    """The migration's statement as a role without the right: a notice, no error."""
    import importlib.util
    from pathlib import Path

    path = Path(migrate.__file__).parent / "migrations/versions/0135_no_jit.py"
    spec = importlib.util.spec_from_file_location("no_jit", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    notices: list[str] = []
    raw = conn.connection.driver_connection
    raw.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
    conn.execute(sa.text("CREATE ROLE gridgov_test_not_owner"))
    conn.execute(sa.text("SET LOCAL ROLE gridgov_test_not_owner"))
    conn.execute(sa.text(module._for_database("SET jit = on")))
    conn.execute(sa.text("RESET ROLE"))
    assert any("only the owner of database" in n for n in notices)
