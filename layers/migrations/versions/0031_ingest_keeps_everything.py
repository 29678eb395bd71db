"""Nothing mapped is dropped: cases keep their address; bad household counts are refused.

``cases.address`` stores the address a 311 file gives (it was read and then
stored nowhere). ``import_quarantine.reason`` gains ``bad_households``: a
household count that is negative, not a number or not a whole number (unless
the mapping says ``round_households: true``, which rounds and notes it).

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-01
"""

from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

REASONS = (
    "missing_source_id",
    "missing_coordinates",
    "zero_coordinates",
    "invalid_coordinates",
    "outside_area",
    "bad_time",
    "impossible_time",
    "unknown_category",
    "invalid_geometry",
    "duplicate_source_id",
    "bad_households",
)


def _reasons(reasons: tuple[str, ...]) -> str:
    return f"""
ALTER TABLE import_quarantine DROP CONSTRAINT IF EXISTS import_quarantine_reason_check;
ALTER TABLE import_quarantine ADD CONSTRAINT import_quarantine_reason_check
    CHECK (reason IN {reasons!r});
"""


def upgrade() -> None:
    op.execute("ALTER TABLE cases ADD COLUMN IF NOT EXISTS address text")
    op.execute("COMMENT ON COLUMN cases.address IS 'Address as the source gave it (free text).'")
    op.execute(_reasons(REASONS))


def downgrade() -> None:
    op.execute("DELETE FROM import_quarantine WHERE reason = 'bad_households'")
    op.execute(_reasons(REASONS[:-1]))
    op.execute("ALTER TABLE cases DROP COLUMN IF EXISTS address")
