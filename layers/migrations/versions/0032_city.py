"""The city's own profile: one row with its names, time zone and administrative code.

``gridgov city init`` writes it (and loads the catalogue); every later command
can say what is missing. The profile module of issue 12 reads its defaults
from a file; this row is what the city said about itself.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-01
"""

from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
CREATE TABLE city (
    id          smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    name        text NOT NULL CHECK (btrim(name) <> ''),
    name_en     text NOT NULL CHECK (btrim(name_en) <> ''),
    timezone    text NOT NULL,
    admin_code  text NOT NULL CHECK (admin_code ~ '^[0-9]{6}$'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE city IS
    'The city this database serves (one row): names, IANA time zone, 6-digit administrative code.';
""")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS city")
