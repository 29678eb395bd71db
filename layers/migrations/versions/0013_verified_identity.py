"""The app logs in as ``gridgov_app``; role, area and actor come from a verified entry.

Before: the dashboard and the API logged in as the superuser, and the area
row-level security reads was a setting any session could change itself
(``set_config('gridgov.area', …)``); a ``RESET ROLE`` regained every right.

Now:

- ``gridgov_app`` (``NOINHERIT``, no superuser) is the app's login. It holds
  nothing but the reads login needs (``app_users``, ``api_keys``) and may
  ``SET ROLE`` to the ``gridgov_*`` roles; after a ``RESET ROLE`` it is back to
  those reads.
- A unit of work starts with ``gridgov_enter(role, area, department, actor)``
  (SECURITY DEFINER): for a non-privileged login it checks the identity against
  ``app_users`` (an active user holding that role; the area and department come
  from that row, never from the caller) or ``api_keys`` (a live API client), and
  records role, area, department and actor in ``gridgov_entries`` keyed by
  backend pid and transaction id. The session cannot write that table, and one
  transaction acts for one identity only: a second ``gridgov_enter`` in the same
  transaction is refused (GG004).
- ``gridgov_area()``, ``gridgov_department()`` and ``gridgov_actor()`` read the
  entry; every policy and check that read the ``gridgov.area`` /
  ``gridgov.department`` settings reads them instead. A privileged session
  (superuser, or a member of the schema owner: migrations, loaders, tests) that
  has not entered still falls back to the settings.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

WORKFLOW_ROLES = [
    "gridgov_api_client",
    "gridgov_dispatcher",
    "gridgov_grid_worker",
    "gridgov_handler",
    "gridgov_leader",
    "gridgov_operator",
    "gridgov_shift_leader",
    "gridgov_supervisor",
    "gridgov_system",
]
AREA_ROLES = "gridgov_grid_worker, gridgov_supervisor"

ROLE = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'gridgov_app') THEN
        CREATE ROLE gridgov_app NOLOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE;
    END IF;
END $$;
GRANT {", ".join(WORKFLOW_ROLES)} TO gridgov_app;
GRANT USAGE ON SCHEMA public TO gridgov_app;
-- login needs these before any role is taken: the password hash of the user
-- logging in, and the client an API key belongs to
GRANT SELECT ON app_users, api_keys TO gridgov_app;
-- and the public reference data pages read before or outside a unit of work (the
-- catalogue, statuses, roles): nothing personal, nothing tied to an area
GRANT SELECT ON categories, departments, case_statuses, case_transitions, workflow_roles,
    responsibility_rules TO gridgov_app;
GRANT SELECT ON alembic_version TO gridgov_app;  -- `gridgov db status` with DATABASE_URL
"""

ENTRIES = r"""
CREATE UNLOGGED TABLE gridgov_entries (
    pid            integer NOT NULL,
    xact           xid8 NOT NULL,
    role           text NOT NULL REFERENCES workflow_roles(code),
    area           text,
    department_id  integer,
    actor          text,
    verified_by    text NOT NULL CHECK (verified_by IN ('privileged', 'dashboard_user', 'api_key', 'public')),
    at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pid, xact)
);
REVOKE ALL ON gridgov_entries FROM PUBLIC;
COMMENT ON TABLE gridgov_entries IS 'Who each open transaction acts for (role, area, department, actor), written only by gridgov_enter() after checking the identity; read by the row-level security policies.';

CREATE FUNCTION gridgov_privileged() RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT coalesce((SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = session_user), false)
        OR pg_has_role(session_user, (SELECT c.relowner FROM pg_class c
                                      WHERE c.oid = 'public.cases'::regclass), 'USAGE')
$$;
COMMENT ON FUNCTION gridgov_privileged IS 'True when the login is a superuser or a member of the schema owner (migrations, loaders, tests): the privileged path that may set history times and actors.';

CREATE FUNCTION gridgov_entry() RETURNS gridgov_entries
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT e.* FROM gridgov_entries e
    WHERE e.pid = pg_backend_pid() AND e.xact = pg_current_xact_id_if_assigned()
$$;

CREATE FUNCTION gridgov_area() RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE e gridgov_entries;
BEGIN
    e := gridgov_entry();
    IF e.pid IS NOT NULL THEN
        RETURN e.area;
    END IF;
    IF gridgov_privileged() THEN
        RETURN nullif(current_setting('gridgov.area', true), '');
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION gridgov_area IS 'The area (street or community code) the transaction entered with; a privileged session that did not enter may still use the gridgov.area setting.';

CREATE FUNCTION gridgov_department() RETURNS integer
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE e gridgov_entries;
BEGIN
    e := gridgov_entry();
    IF e.pid IS NOT NULL THEN
        RETURN e.department_id;
    END IF;
    IF gridgov_privileged() THEN
        RETURN nullif(current_setting('gridgov.department', true), '')::integer;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION gridgov_enter(p_role text, p_area text DEFAULT NULL,
                              p_department_id integer DEFAULT NULL, p_actor text DEFAULT NULL)
RETURNS text LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    r        workflow_roles;
    u        app_users;
    v_area   text := nullif(btrim(p_area), '');
    v_dept   integer := p_department_id;
    v_actor  text := nullif(btrim(p_actor), '');
    v_how    text;
    v_priv   boolean;
BEGIN
    SELECT * INTO r FROM workflow_roles WHERE code = p_role;
    IF NOT FOUND THEN
        PERFORM gridgov_fail('GG001', format('unknown role %L', p_role));
    END IF;
    IF v_area IS NOT NULL AND v_area !~ '^([0-9]{9}|[0-9]{12})$' THEN
        PERFORM gridgov_fail('GG010', format('area %L is not a 9-digit street or 12-digit community code', v_area));
    END IF;
    v_priv := gridgov_privileged();
    IF NOT v_priv AND (gridgov_entry()).pid IS NOT NULL THEN
        PERFORM gridgov_fail('GG004', 'this transaction already acts for someone: one identity per transaction, open a new one');
    END IF;
    IF v_actor IS NOT NULL AND p_role NOT IN ('api_client', 'resident') THEN
        SELECT * INTO u FROM app_users a WHERE a.username = v_actor AND a.disabled_at IS NULL;
    END IF;
    IF u.username IS NOT NULL AND u.role = p_role THEN
        -- the area and department are the user's, from its row: a caller may narrow a
        -- street to one of its communities, never widen or move it
        IF v_area IS NOT NULL AND (u.area IS NULL OR left(v_area, length(u.area)) <> u.area) THEN
            PERFORM gridgov_fail('GG003', format('user %s works in %s, not in %s', u.username,
                                                 coalesce(u.area, 'no area'), v_area));
        END IF;
        v_area := CASE WHEN u.area IS NULL THEN NULL ELSE coalesce(v_area, u.area) END;
        v_dept := (SELECT d.id FROM departments d WHERE d.code = u.department_code);
        v_how := 'dashboard_user';
    ELSIF v_priv THEN
        v_how := 'privileged';
    ELSIF p_role IN ('api_client', 'resident') AND v_area IS NULL AND v_dept IS NULL THEN
        IF v_actor IS NULL THEN
            v_how := 'public';
        ELSIF EXISTS (SELECT 1 FROM api_keys k WHERE k.client = v_actor AND k.revoked_at IS NULL) THEN
            v_how := 'api_key';
        ELSE
            PERFORM gridgov_fail('GG002', format('%L is not an API client with a live key', v_actor));
        END IF;
    ELSIF u.username IS NOT NULL THEN
        PERFORM gridgov_fail('GG002', format('user %s holds role %s, not %s', u.username, u.role, p_role));
    ELSE
        PERFORM gridgov_fail('GG002', format('%L is not an active dashboard user', coalesce(v_actor, '')));
    END IF;
    DELETE FROM gridgov_entries e WHERE e.pid = pg_backend_pid();
    INSERT INTO gridgov_entries (pid, xact, role, area, department_id, actor, verified_by)
    VALUES (pg_backend_pid(), pg_current_xact_id(), p_role, v_area, v_dept, v_actor, v_how);
    RETURN r.pg_role;
END $$;
COMMENT ON FUNCTION gridgov_enter IS 'Start a unit of work as a verified identity: checks the dashboard user or API client, records role, area, department and actor for this transaction, returns the PostgreSQL role to SET.';
REVOKE ALL ON FUNCTION gridgov_enter, gridgov_entry, gridgov_privileged FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gridgov_enter TO gridgov_app;
"""

GRANTS = ", ".join(WORKFLOW_ROLES)

# Every check that read the settings now reads the verified entry. The scalar
# subqueries become init-plans: one lookup per query, not one per row.
POLICIES = f"""
CREATE OR REPLACE FUNCTION gridgov_area_allows(p_street_code text, p_community_id integer)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN (SELECT gridgov_area()) IS NULL THEN false
        WHEN length((SELECT gridgov_area())) = 9 THEN p_street_code = (SELECT gridgov_area())
        ELSE p_community_id = (SELECT id FROM communities WHERE code = (SELECT gridgov_area()))
    END
$$;
COMMENT ON FUNCTION gridgov_area_allows IS 'True when the verified area of the transaction (gridgov_enter) covers the place; false when there is none.';

CREATE OR REPLACE FUNCTION gridgov_case_assigned(p_case_id bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM case_assignments a WHERE a.case_id = p_case_id
                   AND a.department_id = (SELECT gridgov_department()))
$$;

ALTER POLICY cases_department ON cases
    USING (department_id = (SELECT gridgov_department()) OR gridgov_case_assigned(id));
ALTER POLICY communities_area ON communities
    USING ((SELECT gridgov_area()) IS NOT NULL
           AND left(code, length((SELECT gridgov_area()))) = (SELECT gridgov_area()));

CREATE OR REPLACE FUNCTION gridgov_guard_handler_scope() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF gridgov_invoker() = 'gridgov_handler' THEN
        IF gridgov_department() IS NULL THEN
            RAISE EXCEPTION 'a department handler acts for a department: none is set'
                USING ERRCODE = 'GG003';
        END IF;
        IF NOT gridgov_case_assigned(NEW.case_id) THEN
            RAISE EXCEPTION 'case % is not assigned to department %: a handler acts only '
                'on its own department''s cases', NEW.case_id, gridgov_department()
                USING ERRCODE = 'GG003';
        END IF;
    END IF;
    RETURN NEW;
END $$;

GRANT EXECUTE ON FUNCTION gridgov_area, gridgov_department, gridgov_entry, gridgov_privileged
    TO {GRANTS};
"""

DOWNGRADE = """
CREATE OR REPLACE FUNCTION gridgov_area_allows(p_street_code text, p_community_id integer)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN coalesce(current_setting('gridgov.area', true), '') = '' THEN false
        WHEN length(current_setting('gridgov.area', true)) = 9
            THEN p_street_code = current_setting('gridgov.area', true)
        ELSE p_community_id = (SELECT id FROM communities
                               WHERE code = current_setting('gridgov.area', true))
    END
$$;
CREATE OR REPLACE FUNCTION gridgov_case_assigned(p_case_id bigint) RETURNS boolean
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT EXISTS (SELECT 1 FROM case_assignments a WHERE a.case_id = p_case_id
                   AND a.department_id = nullif(current_setting('gridgov.department', true), '')::integer)
$$;
ALTER POLICY cases_department ON cases
    USING (department_id = nullif(current_setting('gridgov.department', true), '')::integer
           OR gridgov_case_assigned(id));
ALTER POLICY communities_area ON communities
    USING (coalesce(current_setting('gridgov.area', true), '') <> ''
           AND left(code, length(coalesce(current_setting('gridgov.area', true), '')))
               = coalesce(current_setting('gridgov.area', true), ''));
CREATE OR REPLACE FUNCTION gridgov_guard_handler_scope() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF gridgov_invoker() = 'gridgov_handler' THEN
        IF coalesce(current_setting('gridgov.department', true), '') = '' THEN
            RAISE EXCEPTION 'a department handler acts for a department: none is set'
                USING ERRCODE = 'GG003';
        END IF;
        IF NOT gridgov_case_assigned(NEW.case_id) THEN
            RAISE EXCEPTION 'case % is not assigned to department %: a handler acts only '
                'on its own department''s cases', NEW.case_id,
                current_setting('gridgov.department', true)
                USING ERRCODE = 'GG003';
        END IF;
    END IF;
    RETURN NEW;
END $$;
DROP FUNCTION IF EXISTS gridgov_enter(text, text, integer, text);
DROP FUNCTION IF EXISTS gridgov_department();
DROP FUNCTION IF EXISTS gridgov_area();
DROP FUNCTION IF EXISTS gridgov_entry();
DROP FUNCTION IF EXISTS gridgov_privileged();
DROP TABLE IF EXISTS gridgov_entries;
REVOKE SELECT ON app_users, api_keys, categories, departments, case_statuses, case_transitions,
    workflow_roles, responsibility_rules, alembic_version FROM gridgov_app;
"""


def upgrade() -> None:
    op.execute(ROLE)
    op.execute(ENTRIES)
    op.execute(POLICIES)


def downgrade() -> None:
    op.execute(DOWNGRADE)
