"""What the app's own login needs outside a unit of work: logins and their throttling.

``gridgov_app`` (0013) reads ``app_users`` and ``api_keys`` only. A login attempt is
recorded and counted before anyone is logged in (``layers.login``, 0020), and a good
login with an old scrypt cost stores a fresh hash: the app login may read and append
attempts and update a password hash, nothing else.

Revision ID: 0051
Revises: 0050
Create Date: 2026-12-01
"""

from alembic import op

revision = "0051"
down_revision = "0050"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
GRANT SELECT, INSERT ON login_attempts TO gridgov_app;
GRANT USAGE ON SEQUENCE login_attempts_id_seq TO gridgov_app;
GRANT UPDATE (password_hash) ON app_users TO gridgov_app;
""")


def downgrade() -> None:
    op.execute("""
REVOKE UPDATE (password_hash) ON app_users FROM gridgov_app;
REVOKE USAGE ON SEQUENCE login_attempts_id_seq FROM gridgov_app;
REVOKE SELECT, INSERT ON login_attempts FROM gridgov_app;
""")
