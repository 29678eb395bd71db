"""Join the three heads (0009, 0010, 0011) into one: later migrations chain from here.

Nothing changes in the schema; an upgrade from any of the three heads ends here.

Revision ID: 0012
Revises: 0009, 0010, 0011
Create Date: 2026-12-01
"""

revision = "0012"
down_revision = ("0009", "0010", "0011")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
