"""Monthly partitions for the tables that grow with the city: cases, case_events, patrol_points.

Revision ID: 0100_partitions
Revises: 0095
Create Date: 2026-12-02

Each of the three becomes a declarative range-partitioned table by its time
(``patrol_points.at``, ``case_events.at``, ``cases.reported_at``), one partition
per calendar month in UTC (``<table>_pYYYY_MM``) and a ``<table>_default``
partition as the safety net: a row for a month without its partition is never
lost, and :func:`gridgov_partition_create` moves such rows into the month's
partition when it is created. The existing rows are moved; every index,
trigger, policy, grant and comment is rebuilt on the partitioned parent (row
triggers and indexes are cloned to every partition by PostgreSQL). Partitions
have row-level security enabled and no grants: the roles read through the parent,
where the policies are.

A key on a partitioned table must contain the partition key, so:

- ``patrol_points``: primary key ``(id, at)``; nothing refers to a fix.
- ``case_events``: primary key ``(id, at)``. ``case_assignments`` and
  ``notify_events`` refer to an event by ``(event_id, event_at)``
  (``MATCH FULL``); ``event_at`` is filled from the event by a trigger, so
  callers keep inserting ``event_id`` alone.
- ``cases``: primary key ``(id, reported_at)``. The global keys live in the
  narrow unpartitioned registry ``case_keys`` (``id`` primary key, ``case_no``
  unique, ``(source_system, source_id)`` unique), written by a trigger on every
  insert into ``cases``; every foreign key that pointed at ``cases(id)`` points at
  ``case_keys(id)``, and ``case_keys (id, reported_at)`` refers back to ``cases``
  ``ON DELETE CASCADE``, so a deleted case leaves no key behind and
  a case still referred to cannot be deleted. See docs/partitions.md.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0100_partitions"
down_revision = "0095"
branch_labels = None
depends_on = None

MONTHS_AHEAD = 3

FUNCTIONS = r"""
CREATE TABLE gridgov_partitioned (
    table_name  text PRIMARY KEY,
    key_column  text NOT NULL
);
COMMENT ON TABLE gridgov_partitioned IS 'Tables partitioned by month (UTC) and the column that decides the month.';
INSERT INTO gridgov_partitioned VALUES
    ('patrol_points', 'at'), ('case_events', 'at'), ('cases', 'reported_at');

CREATE FUNCTION gridgov_partition_name(p_table text, p_month date) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT p_table || '_p' || to_char(p_month, 'YYYY_MM') $$;

CREATE FUNCTION gridgov_partition_secure(p_partition text, p_comment text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    -- read through the parent only: RLS on with no policy refuses every row to a
    -- non-owner who reaches the partition, and no role holds a grant on it
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', p_partition);
    EXECUTE format('REVOKE ALL ON %I FROM PUBLIC', p_partition);
    EXECUTE format('COMMENT ON TABLE %I IS %L', p_partition, p_comment);
END $$;

CREATE FUNCTION gridgov_partition_create(p_table text, p_month date) RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_key     text;
    v_month   date := date_trunc('month', p_month)::date;
    v_name    text;
    v_from    timestamptz;
    v_to      timestamptz;
    v_waiting bigint;
    v_role    text;
BEGIN
    SELECT key_column INTO v_key FROM gridgov_partitioned WHERE table_name = p_table;
    IF NOT FOUND THEN
        RAISE EXCEPTION '% is not partitioned by month (gridgov_partitioned)', p_table
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_name := gridgov_partition_name(p_table, v_month);
    IF to_regclass(format('public.%I', v_name)) IS NOT NULL THEN
        RETURN false;
    END IF;
    -- months in UTC (offset +00), whatever the city's or the session's zone
    v_from := (v_month::text || ' 00:00:00+00')::timestamptz;
    v_to := ((v_month + interval '1 month')::date::text || ' 00:00:00+00')::timestamptz;
    v_waiting := 0;
    IF to_regclass(format('public.%I', p_table || '_default')) IS NOT NULL THEN
        EXECUTE format('SELECT count(*) FROM %I WHERE %I >= $1 AND %I < $2',
                       p_table || '_default', v_key, v_key)
            INTO v_waiting USING v_from, v_to;
    END IF;
    IF v_waiting = 0 THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                       v_name, p_table, v_from, v_to);
    ELSE
        -- rows of this month wait in the default partition: move them as they are
        -- (append-only and foreign-key triggers off for the move only: the rows and
        -- what they refer to do not change), then attach the month
        v_role := current_setting('session_replication_role');
        PERFORM set_config('session_replication_role', 'replica', true);
        EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                       v_name, p_table);
        EXECUTE format('INSERT INTO %I SELECT * FROM %I WHERE %I >= $1 AND %I < $2',
                       v_name, p_table || '_default', v_key, v_key) USING v_from, v_to;
        EXECUTE format('DELETE FROM %I WHERE %I >= $1 AND %I < $2',
                       p_table || '_default', v_key, v_key) USING v_from, v_to;
        PERFORM set_config('session_replication_role', v_role, true);
        EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                       p_table, v_name, v_from, v_to);
    END IF;
    PERFORM gridgov_partition_secure(v_name, format(
        '%s, %s (UTC): a partition of %s; read through %s, where row-level security applies.',
        p_table, to_char(v_month, 'YYYY-MM'), p_table, p_table));
    RETURN true;
END $$;
COMMENT ON FUNCTION gridgov_partition_create IS 'Create the partition of p_table for the month of p_month (UTC), moving its rows out of the default partition; false when it exists.';

CREATE FUNCTION gridgov_partitions_ensure(p_from date, p_to date)
RETURNS TABLE (table_name text, partition_name text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_table text;
    v_month date;
BEGIN
    FOR v_table IN SELECT p.table_name FROM gridgov_partitioned p ORDER BY p.table_name LOOP
        FOR v_month IN SELECT generate_series(date_trunc('month', p_from),
                                              date_trunc('month', p_to), interval '1 month')::date
        LOOP
            IF gridgov_partition_create(v_table, v_month) THEN
                table_name := v_table;
                partition_name := gridgov_partition_name(v_table, v_month);
                RETURN NEXT;
            END IF;
        END LOOP;
    END LOOP;
END $$;
COMMENT ON FUNCTION gridgov_partitions_ensure IS 'Create every missing monthly partition of the partitioned tables from p_from to p_to (months, UTC); idempotent.';
REVOKE EXECUTE ON FUNCTION gridgov_partition_create, gridgov_partitions_ensure,
    gridgov_partition_secure FROM PUBLIC;
"""

CASE_KEYS = r"""
CREATE TABLE case_keys (
    id             bigint PRIMARY KEY,
    reported_at    timestamptz NOT NULL,
    case_no        text NOT NULL UNIQUE,
    source_system  text NOT NULL,
    source_id      text,
    street_code    char(9) NOT NULL,
    UNIQUE (source_system, source_id)
);
COMMENT ON TABLE case_keys IS 'The global keys of cases (id, case number, source id) beside the monthly partitions of cases: the foreign keys to a case point here. Written by a trigger on cases.';
INSERT INTO case_keys (id, reported_at, case_no, source_system, source_id, street_code)
SELECT id, reported_at, case_no, source_system, source_id, street_code FROM cases;
GRANT SELECT ON case_keys TO {roles};
"""

CASE_KEYS_WRITTEN = r"""

CREATE FUNCTION gridgov_case_keys_write() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO case_keys (id, reported_at, case_no, source_system, source_id, street_code)
        VALUES (NEW.id, NEW.reported_at, NEW.case_no, NEW.source_system, NEW.source_id,
                NEW.street_code);
        RETURN NEW;
    END IF;
    IF NEW.id <> OLD.id OR NEW.reported_at <> OLD.reported_at THEN
        RAISE EXCEPTION 'case %: id and reported_at do not change (they place the case in its month)', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF (NEW.case_no, NEW.source_system, NEW.source_id, NEW.street_code)
       IS DISTINCT FROM (OLD.case_no, OLD.source_system, OLD.source_id, OLD.street_code) THEN
        UPDATE case_keys SET case_no = NEW.case_no, source_system = NEW.source_system,
               source_id = NEW.source_id, street_code = NEW.street_code
        WHERE id = OLD.id;
    END IF;
    RETURN NEW;
END $$;
-- after the insert (the case row is there for the key's foreign key to find); before
-- an update (a refused change of month never reaches the row)
CREATE TRIGGER cases_keys_insert AFTER INSERT ON cases
    FOR EACH ROW EXECUTE FUNCTION gridgov_case_keys_write();
CREATE TRIGGER cases_keys_update BEFORE UPDATE OF id, reported_at, case_no, source_system,
    source_id, street_code ON cases FOR EACH ROW EXECUTE FUNCTION gridgov_case_keys_write();
ALTER TABLE case_keys ADD CONSTRAINT case_keys_case_fkey FOREIGN KEY (id, reported_at)
    REFERENCES cases (id, reported_at) ON DELETE CASCADE;
"""

EVENT_AT = r"""
CREATE FUNCTION gridgov_event_at() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF NEW.event_id IS NOT NULL AND (TG_OP = 'INSERT' OR NEW.event_id <> OLD.event_id
                                     OR NEW.event_at IS NULL) THEN
        NEW.event_at := (SELECT e.at FROM case_events e WHERE e.id = NEW.event_id);
    END IF;
    RETURN NEW;
END $$;
COMMENT ON FUNCTION gridgov_event_at IS 'Fill event_at (the month of the case event, part of its key) from event_id.';
"""


def _rows(sql: str, **params: object) -> list[sa.Row]:
    return list(op.get_bind().execute(sa.text(sql), params).all())


def _roles() -> str:
    return ", ".join(r[0] for r in _rows("SELECT pg_role FROM workflow_roles GROUP BY pg_role"))


def _grants(table: str, new: str | None = None) -> list[str]:
    """GRANT statements that give back what ``table`` grants today (to ``new`` or itself)."""
    rows = _rows(
        """
        SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,
               a.privilege_type
        FROM pg_class c, aclexplode(c.relacl) a
        WHERE c.oid = CAST(:t AS regclass) AND a.grantee <> c.relowner
        """,
        t=table,
    )
    kind = "SEQUENCE " if table.endswith("_seq") else ""
    return [f"GRANT {priv} ON {kind}{new or table} TO {who}" for who, priv in rows]


def _policies(where: str, **params: object) -> list[tuple[str, str, str]]:
    """(table, policy, CREATE POLICY) of the policies ``where`` selects (on pg_policies p)."""
    rows = _rows(
        f"""
        SELECT p.tablename, p.policyname, p.permissive, p.roles, p.cmd, p.qual, p.with_check
        FROM pg_policies p WHERE p.schemaname = 'public' AND ({where})
        ORDER BY p.tablename, p.policyname
        """,
        **params,
    )
    out = []
    for table, name, permissive, roles, cmd, qual, check in rows:
        sql = f'CREATE POLICY "{name}" ON {table} AS {permissive} FOR {cmd}'
        sql += f" TO {', '.join(roles)}"
        if qual is not None:
            sql += f" USING ({qual})"
        if check is not None:
            sql += f" WITH CHECK ({check})"
        out.append((table, name, sql))
    return out


def _months(table: str, key: str) -> tuple[str, str]:
    low = _rows(
        f"SELECT coalesce(date_trunc('month', min({key}) AT TIME ZONE 'UTC'), "
        "date_trunc('month', now() AT TIME ZONE 'UTC'))::date::text FROM "
        f"{table}"
    )[0][0]
    high = _rows(
        f"SELECT (date_trunc('month', greatest(max({key}), now()) AT TIME ZONE 'UTC') "
        f"+ interval '{MONTHS_AHEAD} months')::date::text FROM {table}"
    )[0][0]
    return low, high


def partition(  # noqa: C901, PLR0912 (one table's catalogue read, then rebuilt in order)
    table: str,
    key: str,
    fk_target: dict[str, str],
    *,
    partitioned: bool = True,
    primary: str | None = None,
    skip_triggers: tuple[str, ...] = (),
) -> None:
    """Turn ``table`` into a table partitioned by month of ``key``, moving its rows.

    ``fk_target`` rewrites the ``REFERENCES x(cols)`` of the table's own foreign
    keys (``{"cases(id)": "case_keys(id)"}``). With ``partitioned=False`` the way
    back (downgrade): one heap again, keyed by ``primary`` (default ``PRIMARY KEY (id)``),
    without the triggers named in ``skip_triggers``.
    """
    old = f"{table}_unpartitioned" if partitioned else f"{table}_partitioned"
    indexes = _rows(
        """
        SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i
        WHERE i.indrelid = CAST(:t AS regclass)
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
        ORDER BY i.indexrelid
        """,
        t=table,
    )
    own_fks = _rows(
        """
        SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE conrelid = CAST(:t AS regclass) AND contype = 'f' AND conparentid = 0
        ORDER BY conname
        """,
        t=table,
    )
    keys = _rows(
        """
        SELECT conname FROM pg_constraint
        WHERE conrelid = CAST(:t AS regclass) AND contype IN ('p', 'u') ORDER BY contype
        """,
        t=table,
    )
    triggers = _rows(
        """
        SELECT pg_get_triggerdef(oid) FROM pg_trigger
        WHERE tgrelid = CAST(:t AS regclass) AND NOT tgisinternal AND tgparentid = 0
          AND NOT tgname = ANY(:skip)
        ORDER BY tgname
        """,
        t=table,
        skip=list(skip_triggers),
    )
    policies = _policies("p.tablename = :t", t=table)
    rls, forced, comment = _rows(
        """
        SELECT relrowsecurity, relforcerowsecurity, obj_description(oid, 'pg_class')
        FROM pg_class WHERE oid = CAST(:t AS regclass)
        """,
        t=table,
    )[0]
    grants = _grants(table)
    seq = f"{table}_id_seq"
    seq_grants = _grants(seq)
    low, high = _months(table, key) if partitioned else ("", "")

    for _, name, _ in policies:
        op.execute(f'DROP POLICY "{name}" ON {table}')
    for name, _ in own_fks:
        op.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for (name,) in keys:
        op.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for (definition,) in indexes:
        found = re.match(r"CREATE (?:UNIQUE )?INDEX (\S+)", definition)
        assert found is not None
        op.execute(f"DROP INDEX {found.group(1)}")
    op.execute(f"ALTER TABLE {table} RENAME TO {old}")
    op.execute(f"ALTER SEQUENCE {seq} RENAME TO {old}_id_seq")
    op.execute(f"""
        CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS
            INCLUDING STORAGE INCLUDING COMMENTS INCLUDING GENERATED)
            {f"PARTITION BY RANGE ({key})" if partitioned else ""};
        ALTER TABLE {table} ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY
            (SEQUENCE NAME public.{seq});
        SELECT setval('public.{seq}', last_value, is_called) FROM {old}_id_seq;
    """)
    if partitioned:
        op.execute(f"""
            CREATE TABLE {table}_default PARTITION OF {table} DEFAULT;
            SELECT gridgov_partition_secure('{table}_default',
                '{table}: rows of a month without its own partition (a safety net; '
                'gridgov db partitions ensure moves them out).');
            SELECT gridgov_partition_create('{table}', m::date)
            FROM generate_series(DATE '{low}', DATE '{high}', interval '1 month') m;
        """)
    op.execute(f"""
        INSERT INTO {table} SELECT * FROM {old};
        ALTER TABLE {table} ADD CONSTRAINT {table}_pkey
            {f"PRIMARY KEY (id, {key})" if partitioned else primary or "PRIMARY KEY (id)"};
    """)
    for (definition,) in indexes:
        op.execute(definition.replace(f" ON ONLY public.{table} ", f" ON public.{table} "))
    for name, definition in own_fks:
        for before, after in fk_target.items():
            definition = definition.replace(f"REFERENCES {before}", f"REFERENCES {after}")
        op.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    for (definition,) in triggers:
        op.execute(definition)
    for _, _, sql in policies:
        op.execute(sql)
    if rls:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    if forced:
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    for grant in [*grants, *seq_grants]:
        op.execute(grant)
    if comment is not None:
        op.execute(sa.text(f"COMMENT ON TABLE {table} IS {_literal(comment)}"))


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _counts() -> dict[str, int]:
    return {
        t: int(_rows(f"SELECT count(*) FROM {t}")[0][0])
        for t in ("patrol_points", "case_events", "cases")
    }


def _referring(table: str) -> list[tuple[str, str, str]]:
    """(table, constraint, definition) of the foreign keys of other tables to ``table``."""
    return [
        (r[0], r[1], r[2])
        for r in _rows(
            """
            SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid)
            FROM pg_constraint
            WHERE confrelid = CAST(:t AS regclass) AND conrelid <> confrelid AND contype = 'f'
              AND conparentid = 0
            ORDER BY 1, 2
            """,
            t=table,
        )
    ]


def _dependent_policies(table: str) -> list[tuple[str, str, str]]:
    """Policies of other tables whose expressions read ``table`` (bound to it by oid)."""
    return _policies(
        """EXISTS (SELECT 1 FROM pg_policy pol JOIN pg_depend d
                ON d.classid = 'pg_policy'::regclass AND d.objid = pol.oid
                WHERE pol.polname = p.policyname AND pol.polrelid::regclass::text = p.tablename
                  AND d.refobjid = CAST(:t AS regclass) AND pol.polrelid <> d.refobjid)""",
        t=table,
    )


def upgrade() -> None:
    before = _counts()
    op.execute(FUNCTIONS)
    op.execute(EVENT_AT)

    # patrol_points: nothing refers to a fix
    partition("patrol_points", "at", {})

    # case_events: the two tables that refer to an event carry its month
    referring = _referring("case_events")
    for t, name, _ in referring:
        op.execute(f'ALTER TABLE {t} DROP CONSTRAINT "{name}"')
    partition("case_events", "at", {})
    for t, name, definition in referring:
        column = re.match(r"FOREIGN KEY \((\w+)\)", definition)
        assert column is not None and column.group(1) == "event_id", definition
        op.execute(f"""
            ALTER TABLE {t} ADD COLUMN event_at timestamptz;
            UPDATE {t} x SET event_at = e.at FROM case_events e WHERE e.id = x.event_id;
            COMMENT ON COLUMN {t}.event_at IS 'When the event happened (with event_id, the key of the case event; filled by a trigger).';
            CREATE TRIGGER {t}_event_at BEFORE INSERT OR UPDATE OF event_id, event_at ON {t}
                FOR EACH ROW EXECUTE FUNCTION gridgov_event_at();
            ALTER TABLE {t} ADD CONSTRAINT "{name}" FOREIGN KEY (event_id, event_at)
                REFERENCES case_events (id, at) MATCH FULL;
        """)

    # cases: the global keys move to case_keys, every reference follows them
    referring = _referring("cases")
    dependent = _dependent_policies("cases")
    for t, name, _ in referring:
        op.execute(f'ALTER TABLE {t} DROP CONSTRAINT "{name}"')
    for t, name, _ in dependent:
        op.execute(f'DROP POLICY "{name}" ON {t}')
    op.execute(CASE_KEYS.replace("{roles}", _roles()))
    partition("cases", "reported_at", {"cases(id)": "case_keys(id)"})
    op.execute(CASE_KEYS_WRITTEN)
    op.execute("DROP TABLE cases_unpartitioned")
    for t, name, definition in referring:
        op.execute(
            f'ALTER TABLE {t} ADD CONSTRAINT "{name}" '
            + definition.replace("REFERENCES cases(id)", "REFERENCES case_keys(id)")
        )
    for _, _, sql in dependent:
        op.execute(sql)
    op.execute("DROP TABLE case_events_unpartitioned, patrol_points_unpartitioned")

    after = _counts()
    if after != before:
        raise RuntimeError(f"partitioning lost or gained rows: before {before}, after {after}")


def downgrade() -> None:
    before = _counts()
    # cases: one heap again, with its own keys; the references come back to cases(id)
    referring = _referring("case_keys")
    dependent = _dependent_policies("cases")
    for t, name, _ in referring:
        op.execute(f'ALTER TABLE {t} DROP CONSTRAINT "{name}"')
    for t, name, _ in dependent:
        op.execute(f'DROP POLICY "{name}" ON {t}')
    op.execute("ALTER TABLE case_keys DROP CONSTRAINT case_keys_case_fkey")
    partition(
        "cases",
        "reported_at",
        {"case_keys(id)": "cases(id)"},
        partitioned=False,
        skip_triggers=("cases_keys_insert", "cases_keys_update"),
    )
    op.execute("""
        ALTER TABLE cases ADD CONSTRAINT cases_case_no_key UNIQUE (case_no);
        ALTER TABLE cases ADD CONSTRAINT cases_source_system_source_id_key
            UNIQUE (source_system, source_id);
        DROP TABLE cases_partitioned;
        DROP TABLE case_keys;
        DROP FUNCTION gridgov_case_keys_write();
    """)
    for t, name, definition in referring:
        op.execute(
            f'ALTER TABLE {t} ADD CONSTRAINT "{name}" '
            + definition.replace("REFERENCES case_keys(id)", "REFERENCES cases(id)")
        )
    for _, _, sql in dependent:
        op.execute(sql)

    # case_events: referred to by its id alone again
    referring = _referring("case_events")
    for t, name, _ in referring:
        op.execute(f'ALTER TABLE {t} DROP CONSTRAINT "{name}"')
    partition("case_events", "at", {}, partitioned=False)
    op.execute("DROP TABLE case_events_partitioned")
    for t, name, _ in referring:
        op.execute(f"""
            DROP TRIGGER {t}_event_at ON {t};
            ALTER TABLE {t} DROP COLUMN event_at;
            ALTER TABLE {t} ADD CONSTRAINT "{name}" FOREIGN KEY (event_id)
                REFERENCES case_events(id);
        """)

    partition("patrol_points", "at", {}, partitioned=False)
    op.execute("""
        DROP TABLE patrol_points_partitioned;
        DROP FUNCTION gridgov_event_at();
        DROP FUNCTION gridgov_partitions_ensure(date, date);
        DROP FUNCTION gridgov_partition_create(text, date);
        DROP FUNCTION gridgov_partition_secure(text, text);
        DROP FUNCTION gridgov_partition_name(text, date);
        DROP TABLE gridgov_partitioned;
    """)
    after = _counts()
    if after != before:
        raise RuntimeError(f"un-partitioning lost or gained rows: before {before}, after {after}")
