"""Login attempts: throttling, lockout and an audit of failed logins (issue 13 finding 8).

``login_attempts`` holds one row per dashboard login attempt — the name as typed
(made printable), the client address when known, when, whether it succeeded and why
not. :func:`layers.auth.log_in` reads it to lock a name (or an address) out after too
many failures in a window, with a back-off that doubles, and it is the audit of failed
logins. Like ``app_users`` only the application's own login reads or writes it.

Revision ID: 0020
Revises: 0012
Create Date: 2026-12-01
"""

from alembic import op

revision = "0020"
down_revision = "0015"  # after the verified identity (0013-0015): the app login exists
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
CREATE TABLE login_attempts (
    id        bigserial PRIMARY KEY,
    username  text NOT NULL,
    address   text,
    at        timestamptz NOT NULL DEFAULT now(),
    ok        boolean NOT NULL,
    reason    text NOT NULL CHECK (reason IN
                  ('ok', 'bad_password', 'unknown_user', 'malformed_name', 'locked'))
);
CREATE INDEX login_attempts_user_at ON login_attempts (username, at DESC);
CREATE INDEX login_attempts_address_at ON login_attempts (address, at DESC)
    WHERE address IS NOT NULL;
REVOKE ALL ON login_attempts FROM PUBLIC;
COMMENT ON TABLE login_attempts IS
    'Dashboard login attempts (name as typed, client address, ok or why not): lockout and audit.';
""")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS login_attempts")
