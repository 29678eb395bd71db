"""Residents report, follow and rate: private links, feedback, and the resident's steps.

- ``resident_links``: one row per report made in the residents' app (``/report/``) and
  per follow of an existing case. The private link's secret token is stored only as
  its SHA-256 (``token_hash``); ``client_id`` (made on the phone) stores a report or a
  follow once however often an offline outbox re-sends it.
- ``resident_feedback``: a resident's rating (满意 / 基本满意 / 不满意) or "not fixed"
  with its reason and photo, once per client id. The case itself moves through
  ``case_transition`` (``rate`` → satisfaction; ``reopen`` → rework with the reason in
  the history), so the measures (satisfaction, false closure) read it as before.
- Workflow: the resident may reopen a closed or rated case ("not fixed", a reason
  needed); the office that closed a case (the operator) no longer rates it — only the
  resident does. ``layers.workflow.states`` mirrors these rows.
- ``resident_add_reporter``: a follow adds the resident as a reporter of the case
  (``reporters`` is personal data the API client cannot read or write directly).

Revision ID: 0080
Revises: 0051
Create Date: 2026-12-02
"""

from alembic import op

revision = "0080"
down_revision = "0051"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(r"""
CREATE TABLE resident_links (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id      bigint NOT NULL REFERENCES cases(id),
    token_hash   bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    client_id    text NOT NULL UNIQUE CHECK (client_id ~ '^[A-Za-z0-9_-]{8,64}$'),
    relation     text NOT NULL CHECK (relation IN ('report', 'follow')),
    kind         text NOT NULL,
    device_hash  text,
    address_key  text,
    reporter_id  bigint REFERENCES reporters(id),
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX resident_links_case ON resident_links (case_id);
COMMENT ON TABLE resident_links IS 'Reports and follows from the residents'' app: the case, the private link (hash of its secret token), the client id that stores it once.';

CREATE TABLE resident_feedback (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id       bigint NOT NULL REFERENCES cases(id),
    link_id       bigint NOT NULL REFERENCES resident_links(id),
    client_id     text NOT NULL UNIQUE CHECK (client_id ~ '^[A-Za-z0-9_-]{8,64}$'),
    verdict       text NOT NULL CHECK (verdict IN ('satisfied', 'basically_satisfied', 'dissatisfied', 'not_fixed')),
    satisfaction  smallint CHECK (satisfaction BETWEEN 1 AND 5),
    reason        text CHECK (length(reason) <= 1000),
    photos        jsonb NOT NULL DEFAULT '[]'::jsonb,
    at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX resident_feedback_case ON resident_feedback (case_id);
COMMENT ON TABLE resident_feedback IS 'A resident''s rating or "not fixed" of a closed case, once per client id; the case moves through case_transition.';

GRANT SELECT, INSERT ON resident_links, resident_feedback TO gridgov_api_client;

CREATE FUNCTION resident_add_reporter(p_case_id bigint, p_name text, p_phone text)
RETURNS bigint LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_id bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM cases WHERE id = p_case_id) THEN
        PERFORM gridgov_fail('GG404', format('no case %s', p_case_id));
    END IF;
    INSERT INTO reporters (case_id, name, phone, channel)
    VALUES (p_case_id, nullif(btrim(p_name), ''), nullif(btrim(p_phone), ''), 'resident_app')
    RETURNING id INTO v_id;
    RETURN v_id;
END $$;
COMMENT ON FUNCTION resident_add_reporter IS 'A follow from the residents'' app: add the resident (maybe anonymous) as a reporter of the case.';
REVOKE ALL ON FUNCTION resident_add_reporter FROM PUBLIC;
GRANT EXECUTE ON FUNCTION resident_add_reporter TO gridgov_api_client;

DELETE FROM case_transitions WHERE from_status = 'closed' AND action = 'rate' AND role = 'operator';
INSERT INTO case_transitions (from_status, action, to_status, role, needs_reason)
VALUES ('closed', 'reopen', 'dispatched', 'resident', true),
       ('rated', 'reopen', 'dispatched', 'resident', true);
""")


def downgrade() -> None:
    op.execute("""
DELETE FROM case_transitions WHERE action = 'reopen' AND role = 'resident';
INSERT INTO case_transitions (from_status, action, to_status, role)
VALUES ('closed', 'rate', 'rated', 'operator');
DROP FUNCTION IF EXISTS resident_add_reporter(bigint, text, text);
DROP TABLE IF EXISTS resident_feedback;
DROP TABLE IF EXISTS resident_links;
""")
