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
- ``resident_stats``: the public figures of ``/report/stats`` (per department and per
  community: sample sizes and the median time to fix), rebuilt by
  ``resident_stats_build`` / ``resident_stats_refresh`` (at most every few minutes).
- The app acts as the API client ``resident-app`` (a key row whose key nobody holds, so
  that the database verifies the identity and records it as the actor); revoking that
  key stops the app.
- ``resident_add_reporter``: a follow adds the resident as a reporter of the case
  (``reporters`` is personal data the API client cannot read or write directly).

Revision ID: 0080
Revises: 0051
Create Date: 2026-12-02
"""

from alembic import op

revision = "0080"
down_revision = "0070"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(r"""
-- the residents' app acts as the API client 'resident-app' (an identity the database
-- verifies; nobody holds its key: the hash is of random bytes). Revoking it stops the app.
INSERT INTO api_keys (client, key_hash)
VALUES ('resident-app', encode(sha256(convert_to(gen_random_uuid()::text || clock_timestamp()::text, 'UTF8')), 'hex'))
ON CONFLICT (client) DO NOTHING;

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

CREATE FUNCTION resident_attach_photos(p_case_id bigint, p_client_id text, p_media jsonb)
RETURNS integer LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_item jsonb;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM resident_links l WHERE l.case_id = p_case_id
                   AND l.client_id = p_client_id AND l.relation = 'report') THEN
        PERFORM gridgov_fail('GG404', format('case %s was not reported by this client', p_case_id));
    END IF;
    IF jsonb_typeof(p_media) <> 'array' OR jsonb_array_length(p_media) > 5 THEN
        PERFORM gridgov_fail('GG016', 'photos: a list of at most 5');
    END IF;
    FOR v_item IN SELECT * FROM jsonb_array_elements(p_media) LOOP
        IF v_item->>'type' IS DISTINCT FROM 'photo'
           OR coalesce(v_item->>'path', '') !~ ('^' || p_case_id || '/[0-9a-f]{64}\.(jpg|png|webp)$') THEN
            PERFORM gridgov_fail('GG016', format('not a stored photo of case %s', p_case_id));
        END IF;
    END LOOP;
    UPDATE cases SET media = p_media WHERE id = p_case_id AND media = '[]'::jsonb;
    RETURN jsonb_array_length(p_media);
END $$;
COMMENT ON FUNCTION resident_attach_photos IS 'The photos of a report from the residents'' app, stored by layers.media under the new case: set once, by the client that reported it.';
REVOKE ALL ON FUNCTION resident_attach_photos FROM PUBLIC;
GRANT EXECUTE ON FUNCTION resident_attach_photos TO gridgov_api_client;

CREATE TABLE resident_stats (
    unit_kind         text NOT NULL CHECK (unit_kind IN ('department', 'community')),
    unit_code         text NOT NULL,
    name_zh           text NOT NULL,
    name_en           text,
    deadline_closed   integer NOT NULL,
    on_time           integer NOT NULL,
    handled           integer NOT NULL,
    median_hours_to_fix numeric,
    rated             integer NOT NULL,
    satisfied         integer NOT NULL,
    ever_closed       integer NOT NULL,
    reopened          integer NOT NULL,
    window_start      timestamptz NOT NULL,
    window_end        timestamptz NOT NULL,
    refreshed_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (unit_kind, unit_code)
);
COMMENT ON TABLE resident_stats IS 'The public figures of /report/stats per department and community: counts (sample sizes) and the median time to fix over a window of reported cases; rebuilt by resident_stats_build.';

CREATE FUNCTION resident_stats_build(p_start timestamptz, p_end timestamptz)
RETURNS integer LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_n integer;
BEGIN
    DELETE FROM resident_stats;
    WITH c AS (
        SELECT c.department_id, c.community_id, c.status, c.closed_at, c.deadline_at,
               c.handled_at, c.reported_at, c.satisfaction, c.reopen_count,
               c.status IN ('closed', 'rated', 'archived') AS is_closed
        FROM cases c
        WHERE c.reported_at >= p_start AND c.reported_at < p_end AND c.status <> 'rejected'
    ), per AS (
        SELECT 'department' AS unit_kind, d.code AS unit_code, d.name_zh, d.name_en, c.*
        FROM c JOIN departments d ON d.id = c.department_id
        UNION ALL
        SELECT 'community', m.code, m.name_zh, m.name_en, c.*
        FROM c JOIN communities m ON m.id = c.community_id
    )
    INSERT INTO resident_stats (unit_kind, unit_code, name_zh, name_en, deadline_closed, on_time,
        handled, median_hours_to_fix, rated, satisfied, ever_closed, reopened, window_start,
        window_end)
    SELECT unit_kind, unit_code, min(name_zh), min(name_en),
           count(*) FILTER (WHERE is_closed AND deadline_at IS NOT NULL),
           count(*) FILTER (WHERE is_closed AND closed_at <= deadline_at),
           count(*) FILTER (WHERE handled_at IS NOT NULL),
           round((percentile_cont(0.5) WITHIN GROUP (
                 ORDER BY extract(epoch FROM handled_at - reported_at) / 3600)
                 FILTER (WHERE handled_at IS NOT NULL))::numeric, 1),
           count(*) FILTER (WHERE satisfaction IS NOT NULL),
           count(*) FILTER (WHERE satisfaction >= 4),
           count(*) FILTER (WHERE is_closed OR reopen_count > 0),
           count(*) FILTER (WHERE reopen_count > 0),
           p_start, p_end
    FROM per GROUP BY unit_kind, unit_code;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END $$;
COMMENT ON FUNCTION resident_stats_build IS 'Rebuild resident_stats over cases reported in [p_start, p_end) (not rejected).';
REVOKE ALL ON FUNCTION resident_stats_build FROM PUBLIC;
GRANT EXECUTE ON FUNCTION resident_stats_build TO gridgov_system;

CREATE FUNCTION resident_stats_refresh(p_max_age interval, p_days integer DEFAULT 365)
RETURNS boolean LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    IF p_days NOT BETWEEN 1 AND 3660 THEN
        PERFORM gridgov_fail('GG010', 'the window is 1 to 3660 days');
    END IF;
    IF EXISTS (SELECT 1 FROM resident_stats WHERE refreshed_at > now() - p_max_age) THEN
        RETURN false;
    END IF;
    -- one rebuild at a time; a second caller reads what the first leaves
    IF NOT pg_try_advisory_xact_lock(hashtext('resident_stats')) THEN
        RETURN false;
    END IF;
    PERFORM resident_stats_build(now() - make_interval(days => p_days), now());
    RETURN true;
END $$;
COMMENT ON FUNCTION resident_stats_refresh IS 'Rebuild resident_stats over the last p_days days when it is older than p_max_age (or empty).';
REVOKE ALL ON FUNCTION resident_stats_refresh FROM PUBLIC;
GRANT EXECUTE ON FUNCTION resident_stats_refresh TO gridgov_api_client, gridgov_system;
GRANT SELECT ON resident_stats TO gridgov_api_client, gridgov_system, gridgov_leader;

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
DROP FUNCTION IF EXISTS resident_stats_refresh(interval, integer);
DROP FUNCTION IF EXISTS resident_stats_build(timestamptz, timestamptz);
DROP TABLE IF EXISTS resident_stats;
DROP FUNCTION IF EXISTS resident_add_reporter(bigint, text, text);
DROP FUNCTION IF EXISTS resident_attach_photos(bigint, text, jsonb);
DROP TABLE IF EXISTS resident_feedback;
DROP TABLE IF EXISTS resident_links;
DELETE FROM api_keys WHERE client = 'resident-app';
""")
