"""Roads loaded from a city's files carry their source and source id (re-runs load nothing twice).

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-01
"""

from alembic import op

revision = "0034"
down_revision = "0033"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
ALTER TABLE roads ADD COLUMN source text, ADD COLUMN source_id text,
    ADD COLUMN highway text;
ALTER TABLE roads ADD CONSTRAINT roads_source_key UNIQUE (source, source_id);
COMMENT ON COLUMN roads.highway IS 'The source''s own road class (OSM highway=…), before mapping.';
""")


def downgrade() -> None:
    op.execute("""
ALTER TABLE roads DROP CONSTRAINT IF EXISTS roads_source_key;
ALTER TABLE roads DROP COLUMN source, DROP COLUMN source_id, DROP COLUMN highway;
""")
