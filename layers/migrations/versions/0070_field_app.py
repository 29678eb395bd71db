"""The field app: devices, photos uploaded ahead, actions applied once, fixes and their sieve.

- ``field_devices``: a phone signed in as a dashboard user; only the SHA-256 of its
  token is kept; revocable. The app's own login reads it (before anyone is in scope).
- ``field_workers``: which ``workers`` row a grid-worker login walks as (tracks, plans).
- ``field_photos``: photos uploaded by client id before the action that uses them.
- ``field_actions``: every outbox action by its client id with the result it got, so
  that a re-send gets the same answer and nothing is done twice.
- ``patrol_points`` take inserts from a grid worker for its own worker (RLS), and the
  optional speed, bearing, altitude, battery and source of a fix;
  ``patrol_points_aside`` keeps refused fixes with the reason (never lost, counted).
- Two transitions: a grid worker ``verify`` a reported case on site (status unchanged,
  history row with photo and reason), and ``close`` a case it has just found on patrol
  (即知即改, guard ``own_patrol_report``, checked inside ``case_transition``).

Revision ID: 0070
Revises: 0051
Create Date: 2026-12-02
"""

from alembic import op

revision = "0070"
down_revision = "0060"
branch_labels = None
depends_on = None

FIELD_ROLES = "gridgov_grid_worker, gridgov_handler, gridgov_supervisor"
ACTOR = "(SELECT (gridgov_entry()).actor)"

TABLES = f"""
CREATE TABLE field_devices (
    id            uuid PRIMARY KEY,
    username      text NOT NULL REFERENCES app_users(username) ON DELETE CASCADE,
    label         text NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
    token_hash    char(64) NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{{64}}$'),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz,
    revoked_at    timestamptz
);
CREATE INDEX field_devices_username_idx ON field_devices (username);
REVOKE ALL ON field_devices FROM PUBLIC;
GRANT SELECT, INSERT ON field_devices TO gridgov_app;
GRANT UPDATE (last_seen_at) ON field_devices TO gridgov_app;
COMMENT ON TABLE field_devices IS 'Phones signed in to the field app: token kept as SHA-256 only, revocable.';

CREATE TABLE field_workers (
    username   text PRIMARY KEY REFERENCES app_users(username) ON DELETE CASCADE,
    worker_id  integer NOT NULL UNIQUE REFERENCES workers(id)
);
GRANT SELECT ON field_workers TO gridgov_app, {FIELD_ROLES};
CREATE FUNCTION gridgov_field_login_of_worker(p_code text) RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT f.username FROM field_workers f JOIN workers w ON w.id = f.worker_id
    WHERE w.code = p_code
$$;
REVOKE ALL ON FUNCTION gridgov_field_login_of_worker FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gridgov_field_login_of_worker TO gridgov_app;
COMMENT ON FUNCTION gridgov_field_login_of_worker IS 'The login linked to a worker code (an OsmAnd id), for the app login that cannot read workers (RLS).';
COMMENT ON TABLE field_workers IS 'The grid worker (workers row) a dashboard login walks as.';

CREATE FUNCTION gridgov_field_worker() RETURNS integer
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT f.worker_id FROM field_workers f WHERE f.username = (gridgov_entry()).actor
$$;
REVOKE ALL ON FUNCTION gridgov_field_worker FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gridgov_field_worker TO {FIELD_ROLES};
COMMENT ON FUNCTION gridgov_field_worker IS 'The workers.id of the verified actor of this transaction (field_workers), or NULL.';

CREATE TABLE field_photos (
    photo_id    uuid PRIMARY KEY,
    username    text NOT NULL,
    sha256      char(64) NOT NULL,
    bytes       integer NOT NULL CHECK (bytes > 0),
    mime        text NOT NULL CHECK (mime IN ('image/jpeg', 'image/png', 'image/webp')),
    path        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE field_photos ENABLE ROW LEVEL SECURITY;
CREATE POLICY field_photos_own ON field_photos TO {FIELD_ROLES}
    USING (username = {ACTOR}) WITH CHECK (username = {ACTOR});
GRANT SELECT, INSERT ON field_photos TO {FIELD_ROLES};
COMMENT ON TABLE field_photos IS 'Photos uploaded from the field app by client id, before the action that attaches them.';

CREATE TABLE field_actions (
    client_id    uuid PRIMARY KEY,
    username     text NOT NULL,
    device_id    uuid,
    kind         text NOT NULL,
    case_id      bigint REFERENCES cases(id),
    phone_at     timestamptz,
    received_at  timestamptz NOT NULL DEFAULT now(),
    ok           boolean NOT NULL,
    result       jsonb NOT NULL
);
CREATE INDEX field_actions_case_idx ON field_actions (case_id);
ALTER TABLE field_actions ENABLE ROW LEVEL SECURITY;
CREATE POLICY field_actions_own ON field_actions TO {FIELD_ROLES}
    USING (username = {ACTOR}) WITH CHECK (username = {ACTOR});
GRANT SELECT, INSERT ON field_actions TO {FIELD_ROLES};
COMMENT ON TABLE field_actions IS 'Every field-app outbox action by client id with its result: applied once, answered the same on a re-send.';

ALTER TABLE patrol_points
    ADD COLUMN speed_ms   real,
    ADD COLUMN bearing    real,
    ADD COLUMN altitude_m real,
    ADD COLUMN batt       real,
    ADD COLUMN source     text CHECK (source IN ('field', 'osmand'));
GRANT INSERT ON patrol_points TO gridgov_grid_worker;
GRANT USAGE ON SEQUENCE patrol_points_id_seq TO gridgov_grid_worker;
CREATE POLICY patrol_points_own_insert ON patrol_points FOR INSERT TO gridgov_grid_worker
    WITH CHECK (worker_id = (SELECT gridgov_field_worker()));

CREATE TABLE patrol_points_aside (
    id           bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    worker_id    integer NOT NULL REFERENCES workers(id),
    street_code  char(9) NOT NULL,
    at           timestamptz,
    received_at  timestamptz NOT NULL DEFAULT now(),
    reason       text NOT NULL CHECK (reason IN ('poor_accuracy', 'impossible_speed', 'bad_value')),
    accuracy_m   real,
    speed_ms     real,
    source       text CHECK (source IN ('field', 'osmand')),
    geom         geometry(Point, 4326)
);
CREATE INDEX patrol_points_aside_worker_at_idx ON patrol_points_aside (worker_id, at);
CREATE INDEX patrol_points_aside_geom_gix ON patrol_points_aside USING gist (geom);
ALTER TABLE patrol_points_aside ENABLE ROW LEVEL SECURITY;
CREATE POLICY patrol_points_aside_own ON patrol_points_aside TO gridgov_grid_worker
    USING (worker_id = (SELECT gridgov_field_worker()))
    WITH CHECK (worker_id = (SELECT gridgov_field_worker()));
CREATE POLICY patrol_points_aside_area ON patrol_points_aside FOR SELECT TO gridgov_supervisor
    USING (EXISTS (SELECT 1 FROM workers w WHERE w.id = worker_id));
GRANT SELECT, INSERT ON patrol_points_aside TO gridgov_grid_worker;
GRANT USAGE ON SEQUENCE patrol_points_aside_id_seq TO gridgov_grid_worker;
GRANT SELECT ON patrol_points_aside TO gridgov_supervisor;
COMMENT ON TABLE patrol_points_aside IS 'GPS fixes kept aside (poor accuracy, impossible speed, bad values): not in tracks, counted.';
"""

TRANSITIONS = r"""
ALTER TABLE case_transitions DROP CONSTRAINT case_transitions_guard_check;
ALTER TABLE case_transitions ADD CONSTRAINT case_transitions_guard_check
    CHECK (guard IN ('logged_only', 'own_patrol_report'));
INSERT INTO case_transitions (from_status, action, to_status, role, needs_reason,
                              needs_attachment, guard) VALUES
    ('reported', 'verify', 'reported', 'grid_worker', true, true, NULL),
    ('reported', 'close', 'closed', 'grid_worker', true, true, 'own_patrol_report');

DO $patch$
DECLARE
    v_src text := pg_get_functiondef('case_transition(bigint, text, text, text, integer, text,
        jsonb, jsonb, timestamptz)'::regprocedure);
    v_anchor text := '    IF t.guard = ''logged_only'' THEN';
BEGIN
    IF position('own_patrol_report' in v_src) = 0 THEN
        IF position(v_anchor in v_src) = 0 THEN
            RAISE EXCEPTION 'case_transition has no logged_only guard to extend';
        END IF;
        v_src := replace(v_src, v_anchor, '    IF t.guard = ''own_patrol_report'' AND NOT (
       c.source = ''patrol'' AND c.version = 1 AND EXISTS (
           SELECT 1 FROM case_events e WHERE e.case_id = c.id AND e.action = ''report''
           AND e.actor = v_actor)) THEN
        PERFORM gridgov_fail(''GG422'',
            ''only a case the worker has just found on patrol is closed on the spot'');
    END IF;
' || v_anchor);
        EXECUTE v_src;
    END IF;
END $patch$;
"""

UNPATCH = r"""
DO $patch$
DECLARE
    v_src text := pg_get_functiondef('case_transition(bigint, text, text, text, integer, text,
        jsonb, jsonb, timestamptz)'::regprocedure);
    v_start integer := position('    IF t.guard = ''own_patrol_report''' in v_src);
    v_end integer := position('    IF t.guard = ''logged_only'' THEN' in v_src);
BEGIN
    IF v_start > 0 THEN
        EXECUTE left(v_src, v_start - 1) || substr(v_src, v_end);
    END IF;
END $patch$;
DELETE FROM case_transitions WHERE role = 'grid_worker' AND from_status = 'reported'
    AND action IN ('verify', 'close');
ALTER TABLE case_transitions DROP CONSTRAINT case_transitions_guard_check;
ALTER TABLE case_transitions ADD CONSTRAINT case_transitions_guard_check
    CHECK (guard IN ('logged_only'));
"""


def upgrade() -> None:
    op.execute(TABLES)
    op.execute(TRANSITIONS)


def downgrade() -> None:
    op.execute(UNPATCH)
    op.execute("""
DROP TABLE IF EXISTS patrol_points_aside;
DROP POLICY IF EXISTS patrol_points_own_insert ON patrol_points;
REVOKE USAGE ON SEQUENCE patrol_points_id_seq FROM gridgov_grid_worker;
REVOKE INSERT ON patrol_points FROM gridgov_grid_worker;
ALTER TABLE patrol_points DROP COLUMN IF EXISTS speed_ms, DROP COLUMN IF EXISTS bearing,
    DROP COLUMN IF EXISTS altitude_m, DROP COLUMN IF EXISTS batt, DROP COLUMN IF EXISTS source;
DROP TABLE IF EXISTS field_actions;
DROP TABLE IF EXISTS field_photos;
DROP FUNCTION IF EXISTS gridgov_field_worker();
DROP FUNCTION IF EXISTS gridgov_field_login_of_worker(text);
DROP TABLE IF EXISTS field_workers;
DROP TABLE IF EXISTS field_devices;
""")
