"""No JIT for GridGov's database: ``ALTER DATABASE <this one> SET jit = off``.

A query over the month partitions of ``cases`` (or ``case_events``, ``patrol_points``)
plans one scan per month, and PostgreSQL's JIT compiles each of them: above its cost
threshold the compiling took seconds where the query ran in less (the open, unrouted
cases after a second million loaded: 4.6 s with JIT, of which about 4 s compiling; 0.3 s
without). The managed cluster has ``jit = off`` in its server settings; this sets it for
the database itself, so that every session on any server (through a pooler too, which
passes no startup options) runs without it.

Changing a database's defaults needs its owner (or a superuser): a migrating login that
is neither gets a notice saying what to run, and the migration goes on.

Revision ID: 0135_no_jit
Revises: 0130_case_keys_c_collation
Create Date: 2026-12-04
"""

from alembic import op

revision = "0135_no_jit"
down_revision = "0130_case_keys_c_collation"
branch_labels = None
depends_on = None


def _for_database(setting: str) -> str:
    return f"""
    DO $$
    BEGIN
        EXECUTE format('ALTER DATABASE %I {setting}', current_database());
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE NOTICE 'JIT is left as the server has it: only the owner of database % may '
                     'change its defaults (ALTER DATABASE % {setting})',
                     current_database(), current_database();
    END $$;
    """


def upgrade() -> None:
    op.execute(_for_database("SET jit = off"))


def downgrade() -> None:
    op.execute(_for_database("RESET jit"))
