"""Drop ``cases_category_idx``: ``cases_recurrence_idx`` starts with the same column.

``cases_recurrence_idx`` is ``(category_id, h3_r10, reported_at)``, so every
lookup by category (queries, the foreign key's checks when a category is
deleted) can use it; the single-column index only cost writes: one more btree
per inserted case, and one more index build (0.5 s per million cases) in a
bulk load.

Revision ID: 0011
Revises: 0003, 0004
Create Date: 2026-11-30
"""

from alembic import op

revision = "0011"
down_revision = ("0003", "0004")  # the bulk loader; 0004 creates cases_recurrence_idx
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP INDEX IF EXISTS cases_category_idx")


def downgrade() -> None:
    op.execute("CREATE INDEX IF NOT EXISTS cases_category_idx ON cases (category_id)")
