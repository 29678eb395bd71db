"""Idempotency keys of API writes (issue 13): a retried POST gets the first answer.

``api_idempotency`` keeps, per API client and ``Idempotency-Key``, a hash of the
request body and the answer given; a retry with the same key and body gets that
answer again and creates no second case, the same key with another body is refused.
Written in the transaction of the write itself, as the API client role.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-01
"""

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
CREATE TABLE api_idempotency (
    client        text NOT NULL,
    key           text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash  text NOT NULL,
    status_code   integer NOT NULL,
    response      jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client, key)
);
CREATE INDEX api_idempotency_created ON api_idempotency (created_at);
REVOKE ALL ON api_idempotency FROM PUBLIC;
GRANT SELECT, INSERT ON api_idempotency TO gridgov_api_client;
ALTER TABLE api_idempotency ENABLE ROW LEVEL SECURITY;
-- a client sees only its own keys (the API sets gridgov.client in the transaction)
CREATE POLICY api_idempotency_own ON api_idempotency TO gridgov_api_client
    USING (client = current_setting('gridgov.client', true))
    WITH CHECK (client = current_setting('gridgov.client', true));
COMMENT ON TABLE api_idempotency IS
    'Answers to API writes by (client, Idempotency-Key), with a hash of the request body.';
""")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS api_idempotency")
