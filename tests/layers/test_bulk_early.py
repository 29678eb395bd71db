"""Indexes and keys built as soon as a table's rows are in (:func:`layers.bulk.build_early`)."""

from __future__ import annotations

import sqlalchemy as sa

from layers.bulk import build_early, deferred_indexes_and_foreign_keys


def _indexes(conn, table: str) -> list[tuple[str, bool]]:
    """(name, attached to a parent index) of each index of ``table``."""
    return conn.execute(
        sa.text("""
        SELECT c.relname, EXISTS (SELECT FROM pg_inherits h WHERE h.inhrelid = i.indexrelid)
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = CAST(:t AS regclass) ORDER BY 1
    """),
        {"t": table},
    ).all()


def test_a_month_built_early_is_attached_and_a_plain_table_is_not_built_twice(conn):
    conn.execute(
        sa.text("""
        CREATE TABLE early_m (id bigint, at timestamptz, v int, PRIMARY KEY (id, at))
            PARTITION BY RANGE (at);
        CREATE TABLE early_m1 PARTITION OF early_m FOR VALUES FROM ('2025-01-01') TO ('2025-02-01');
        CREATE TABLE early_m2 PARTITION OF early_m FOR VALUES FROM ('2025-02-01') TO ('2025-03-01');
        CREATE INDEX early_m_v_idx ON early_m (v) WHERE v > 0;
        CREATE TABLE early_p (id bigint PRIMARY KEY, v int);
        CREATE INDEX early_p_v_idx ON early_p (v);
    """)
    )
    with deferred_indexes_and_foreign_keys(
        conn, ["early_m", "early_p"], truncate_if_empty=True
    ) as deferred:
        assert deferred.fresh and _indexes(conn, "early_m1") == []
        conn.execute(
            sa.text("INSERT INTO early_m1 SELECT g, '2025-01-05', g FROM generate_series(1, 500) g")
        )
        conn.execute(sa.text("INSERT INTO early_p SELECT g, g FROM generate_series(1, 50) g"))
        build_early(conn, deferred, "early_m1", "early_m")
        build_early(conn, deferred, "early_p")
        # the month has its own index and key now; the setting is as the load set it
        assert [name for name, _ in _indexes(conn, "early_m1")] == [
            "early_m1_pkey",
            "early_m1_v_idx",
        ]
        assert conn.execute(sa.text("SHOW max_parallel_maintenance_workers")).scalar() == "2"
        assert deferred.built == {"early_p_pkey", "early_p_v_idx"}
    # on exit: attached, not built again; the month without rows got its own
    assert _indexes(conn, "early_m1") == [("early_m1_pkey", True), ("early_m1_v_idx", True)]
    assert _indexes(conn, "early_m2") == [("early_m2_pkey", True), ("early_m2_v_idx", True)]
    assert [name for name, _ in _indexes(conn, "early_p")] == ["early_p_pkey", "early_p_v_idx"]
    partial = conn.execute(
        sa.text("SELECT pg_get_indexdef(CAST('early_m1_v_idx' AS regclass))")
    ).scalar_one()
    assert partial.endswith("WHERE (v > 0)")


def test_the_month_s_key_refuses_a_duplicate_after_the_attach(conn):
    conn.execute(
        sa.text("""
        CREATE TABLE early_k (id bigint, at timestamptz, PRIMARY KEY (id, at))
            PARTITION BY RANGE (at);
        CREATE TABLE early_k1 PARTITION OF early_k FOR VALUES FROM ('2025-01-01') TO ('2025-02-01');
    """)
    )
    with deferred_indexes_and_foreign_keys(conn, ["early_k"], truncate_if_empty=True) as deferred:
        conn.execute(sa.text("INSERT INTO early_k VALUES (1, '2025-01-05')"))
        build_early(conn, deferred, "early_k1", "early_k")
    savepoint = conn.begin_nested()
    try:
        conn.execute(sa.text("INSERT INTO early_k VALUES (1, '2025-01-05')"))
        refused = False
    except sa.exc.IntegrityError:
        refused = True
    savepoint.rollback()
    assert refused


def test_each_deferred_foreign_key_knows_the_table_it_refers_to(conn):
    from layers.bulk import secondary_indexes_and_foreign_keys

    deferred = secondary_indexes_and_foreign_keys(conn, ["case_keys", "case_assignments"])
    refers = {
        (table, deferred.references[(table, name)]) for table, name, _ in deferred.foreign_keys
    }
    # a bulk load's month path checks the assignments against case_keys by probes
    assert ("case_assignments", "case_keys") in refers
    assert all(" REFERENCES " in definition for *_, definition in deferred.foreign_keys)
    assert len(deferred.references) == len(deferred.foreign_keys)
