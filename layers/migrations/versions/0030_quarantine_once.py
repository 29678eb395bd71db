"""The quarantine holds each refused row once, however often its file is loaded again.

A re-run of the same file used to copy every refused row again (14,000 rows
after two runs of a 10,000-row file with 7,000 refusals). Now a refused row is
identified by (layer, source, row number, reason, md5 of the original row):
a run that refuses it again adds its id to ``runs`` instead of a new row.
``run_id`` stays the run that first refused it; ``runs`` lists every run that
did (so "what did run 7 refuse" is ``7 = ANY(runs)``, GIN-indexed). Copies
already stored are merged into their first row.

Revision ID: 0030
Revises: 0012
Create Date: 2026-12-01
"""

from alembic import op

revision = "0030"
down_revision = "0021"  # after the login and idempotency tables
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE import_quarantine
    ADD COLUMN row_key text GENERATED ALWAYS AS (md5(original::text)) STORED,
    ADD COLUMN runs bigint[];
UPDATE import_quarantine SET runs = ARRAY[run_id];
WITH grouped AS (
    SELECT min(id) AS keep, array_agg(run_id ORDER BY run_id) AS runs, array_agg(id) AS ids
    FROM import_quarantine
    GROUP BY layer, source, row_number, reason, row_key
    HAVING count(*) > 1
), merged AS (
    UPDATE import_quarantine q SET runs = g.runs FROM grouped g WHERE q.id = g.keep
    RETURNING q.id
)
DELETE FROM import_quarantine q USING grouped g
WHERE q.id = ANY(g.ids) AND q.id <> g.keep;
ALTER TABLE import_quarantine ALTER COLUMN runs SET NOT NULL;
CREATE UNIQUE INDEX import_quarantine_row_key
    ON import_quarantine (layer, source, row_number, reason, row_key);
CREATE INDEX import_quarantine_runs_idx ON import_quarantine USING gin (runs);
COMMENT ON COLUMN import_quarantine.runs IS
    'Every import run that refused this row (run_id is the first); a re-run adds its id here.';
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute("""
        DROP INDEX IF EXISTS import_quarantine_runs_idx;
        DROP INDEX IF EXISTS import_quarantine_row_key;
        ALTER TABLE import_quarantine DROP COLUMN runs, DROP COLUMN row_key;
    """)
