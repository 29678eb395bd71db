"""``case_transition`` and ``case_report`` trust nothing the caller did not need to say.

Before, any role could pass ``p_changes`` with any key (a handler set its own
deadline to 2099 with a request, moved a case to another department, …),
``p_at`` (backdated ``handled_at``), ``p_actor`` (a forged name) and any
attachment (``../../etc/passwd`` as a photo). Now:

- each action accepts only the change keys it needs (dispatch: department,
  rule, reason, deadline, assists; extend: deadline; rate: satisfaction;
  merge: the target, only through ``case_merge``'s checks), anything else is
  refused with SQLSTATE GG015 naming the key; deadlines must lie after the
  action, departments must exist, assists carry only their own three keys;
- the time is ``now()``; only a privileged session (superuser or a member of
  the schema owner: the demo and bulk loaders, imports and tests that write
  history) may give another time;
- the actor is the identity the transaction entered with (``gridgov_enter``);
  only a privileged session may name another;
- an attachment is a photo stored by ``layers.media`` for this very case
  (``<case id>/<sha256>.<ext>``) or an ``http(s)`` URL; anything else is
  refused with GG016.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

CHECKS = r"""
CREATE FUNCTION gridgov_check_changes(p_case_id bigint, p_action text, p_changes jsonb,
                                      p_attachments jsonb, p_at timestamptz)
RETURNS void LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_allowed  text[];
    v_bad      text;
    v_item     jsonb;
    v_deadline timestamptz;
BEGIN
    IF p_changes IS NULL OR jsonb_typeof(p_changes) <> 'object' THEN
        PERFORM gridgov_fail('GG015', 'changes must be a JSON object');
    END IF;
    v_allowed := CASE p_action
        WHEN 'dispatch' THEN ARRAY['department_id', 'dispatch_rule', 'dispatch_reason',
                                   'deadline_at', 'assists']
        WHEN 'extend' THEN ARRAY['deadline_at']
        WHEN 'rate' THEN ARRAY['satisfaction']
        WHEN 'merge' THEN ARRAY['merged_into']
        ELSE ARRAY[]::text[] END;
    SELECT string_agg(k, ', ' ORDER BY k) INTO v_bad
    FROM jsonb_object_keys(p_changes) k WHERE k <> ALL (v_allowed);
    IF v_bad IS NOT NULL THEN
        PERFORM gridgov_fail('GG015', format('%s may not change %s (it changes: %s)', p_action,
            v_bad, coalesce(nullif(array_to_string(v_allowed, ', '), ''), 'nothing')));
    END IF;
    IF p_changes ? 'deadline_at' THEN
        BEGIN
            v_deadline := (p_changes->>'deadline_at')::timestamptz;
        EXCEPTION WHEN others THEN
            PERFORM gridgov_fail('GG015', format('deadline_at %L is not a time', p_changes->>'deadline_at'));
        END;
        IF v_deadline IS NULL OR v_deadline <= p_at THEN
            PERFORM gridgov_fail('GG015', format('deadline_at %s must lie after the %s (%s)',
                coalesce(v_deadline::text, 'null'), p_action, p_at));
        END IF;
    END IF;
    IF p_changes ? 'department_id' AND NOT EXISTS (
        SELECT 1 FROM departments d WHERE d.id = (p_changes->>'department_id')::integer) THEN
        PERFORM gridgov_fail('GG015', format('department_id %s does not exist', p_changes->>'department_id'));
    END IF;
    IF p_changes ? 'assists' THEN
        IF jsonb_typeof(p_changes->'assists') <> 'array' THEN
            PERFORM gridgov_fail('GG015', 'assists must be a JSON array');
        END IF;
        FOR v_item IN SELECT * FROM jsonb_array_elements(p_changes->'assists') LOOP
            IF jsonb_typeof(v_item) <> 'object' OR EXISTS (
                SELECT 1 FROM jsonb_object_keys(v_item) k
                WHERE k NOT IN ('department_id', 'deadline_at', 'reason'))
               OR NOT EXISTS (SELECT 1 FROM departments d
                              WHERE d.id = (v_item->>'department_id')::integer) THEN
                PERFORM gridgov_fail('GG015', format(
                    'an assist is {department_id, deadline_at, reason} with a known department: %s', v_item));
            END IF;
        END LOOP;
    END IF;
    IF p_changes ? 'merged_into' AND NOT EXISTS (
        SELECT 1 FROM cases c JOIN case_statuses s ON s.code = c.status
        WHERE c.id = (p_changes->>'merged_into')::bigint AND s.is_open AND c.id <> p_case_id) THEN
        PERFORM gridgov_fail('GG015', format('merge target %s is not another open case', p_changes->>'merged_into'));
    END IF;
    IF p_attachments IS NULL OR jsonb_typeof(p_attachments) <> 'array' THEN
        PERFORM gridgov_fail('GG010', 'attachments must be a JSON array');
    END IF;
    FOR v_item IN SELECT * FROM jsonb_array_elements(p_attachments) LOOP
        IF jsonb_typeof(v_item) <> 'object' OR coalesce(v_item->>'type', '') <> 'photo' THEN
            PERFORM gridgov_fail('GG016', format('an attachment is a photo object: %s', left(v_item::text, 200)));
        END IF;
        IF v_item ? 'path' THEN
            IF (v_item->>'path') !~ ('^' || p_case_id || '/[0-9a-f]{64}\.(jpg|png|webp)$') THEN
                PERFORM gridgov_fail('GG016', format(
                    'attachment path %L is not a photo stored for case %s', v_item->>'path', p_case_id));
            END IF;
        ELSIF coalesce(v_item->>'url', '') !~ '^https?://[^\s<>"]+$'
              OR length(v_item->>'url') > 1000 THEN
            PERFORM gridgov_fail('GG016', format(
                'attachment url %L is not an http(s) URL', left(coalesce(v_item->>'url', ''), 200)));
        END IF;
    END LOOP;
END $$;
COMMENT ON FUNCTION gridgov_check_changes IS 'Refuses change keys an action does not take (GG015) and attachments that are not stored photos of the case or http(s) URLs (GG016).';
REVOKE ALL ON FUNCTION gridgov_check_changes FROM PUBLIC;

CREATE FUNCTION gridgov_acting_actor(p_actor text) RETURNS text
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE e gridgov_entries;
BEGIN
    IF gridgov_privileged() AND nullif(btrim(p_actor), '') IS NOT NULL THEN
        RETURN p_actor;
    END IF;
    e := gridgov_entry();
    IF e.actor IS NULL AND gridgov_privileged() THEN
        PERFORM gridgov_fail('GG010', 'an actor is required');
    ELSIF e.actor IS NULL THEN
        PERFORM gridgov_fail('GG002', 'no verified identity: start the unit of work with gridgov_enter(role, …, actor)');
    END IF;
    RETURN e.actor;
END $$;
COMMENT ON FUNCTION gridgov_acting_actor IS 'The actor history records: the verified identity of the transaction; a privileged session may name another.';
REVOKE ALL ON FUNCTION gridgov_acting_actor FROM PUBLIC;
"""

TRANSITION = r"""
CREATE OR REPLACE FUNCTION case_transition(
    p_case_id bigint,
    p_action text,
    p_actor text,
    p_role text,
    p_expected_version integer,
    p_reason text DEFAULT NULL,
    p_attachments jsonb DEFAULT '[]'::jsonb,
    p_changes jsonb DEFAULT '{}'::jsonb,
    p_at timestamptz DEFAULT now()
) RETURNS TABLE (case_id bigint, status text, version integer, event_id bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
#variable_conflict use_column
DECLARE
    c          cases;
    t          case_transitions;
    v_full     boolean;
    v_event    bigint;
    v_rule     text;
    v_dept     integer;
    v_assist   jsonb;
    v_sat      integer;
    v_actor    text;
    v_at       timestamptz;
BEGIN
    v_actor := gridgov_acting_actor(p_actor);
    v_at := CASE WHEN gridgov_privileged() THEN coalesce(p_at, now()) ELSE now() END;
    SELECT * INTO c FROM cases WHERE id = p_case_id FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM gridgov_fail('GG404', format('case %s does not exist', p_case_id));
    END IF;
    PERFORM gridgov_check_role(p_role, c.street_code, c.community_id);
    IF c.version <> p_expected_version THEN
        PERFORM gridgov_fail('GG409', format(
            'case %s changed: it is at version %s (%s), you acted on version %s; reload it',
            p_case_id, c.version, c.status, p_expected_version));
    END IF;
    IF NOT EXISTS (SELECT 1 FROM case_transitions x WHERE x.action = p_action) THEN
        PERFORM gridgov_fail('GG011', format('unknown action %L', p_action));
    END IF;
    IF NOT EXISTS (SELECT 1 FROM case_transitions x
                   WHERE x.from_status = c.status AND x.action = p_action) THEN
        PERFORM gridgov_fail('GG422', format('a case that is %s cannot be %s',
                                             c.status, p_action));
    END IF;
    SELECT * INTO t FROM case_transitions x
    WHERE x.from_status = c.status AND x.action = p_action AND x.role = p_role;
    IF NOT FOUND THEN
        PERFORM gridgov_fail('GG403', format('role %s may not %s a case that is %s (allowed: %s)',
            p_role, p_action, c.status,
            (SELECT string_agg(x.role, ', ' ORDER BY x.role) FROM case_transitions x
             WHERE x.from_status = c.status AND x.action = p_action)));
    END IF;
    PERFORM gridgov_check_changes(p_case_id, p_action, p_changes, p_attachments, v_at);
    IF t.requires_request IS NOT NULL AND (c.pending_request IS NULL OR
       (t.requires_request <> 'any' AND c.pending_request <> t.requires_request)) THEN
        PERFORM gridgov_fail('GG428', format('%s needs a pending %s request (pending: %s)',
            p_action, t.requires_request, coalesce(c.pending_request, 'none')));
    END IF;
    IF t.sets_request IS NOT NULL AND c.pending_request IS NOT NULL THEN
        PERFORM gridgov_fail('GG429', format('a %s request is already pending', c.pending_request));
    END IF;
    IF t.needs_reason AND coalesce(btrim(p_reason), '') = '' THEN
        PERFORM gridgov_fail('GG012', format('%s needs a reason', p_action));
    END IF;
    IF t.needs_attachment AND jsonb_array_length(p_attachments) = 0 THEN
        PERFORM gridgov_fail('GG013', format('%s needs an attachment (a photo)', p_action));
    END IF;
    IF t.guard = 'logged_only' THEN
        SELECT k.full_loop INTO v_full FROM categories k WHERE k.id = c.category_id;
        IF v_full THEN
            PERFORM gridgov_fail('GG422', 'only logged-only categories close straight after acceptance');
        END IF;
    END IF;

    IF p_action = 'dispatch' THEN
        v_rule := p_changes->>'dispatch_rule';
        v_dept := (p_changes->>'department_id')::integer;
        IF v_rule IS NULL OR v_dept IS NULL THEN
            PERFORM gridgov_fail('GG014', 'dispatch needs department_id and dispatch_rule');
        END IF;
        IF v_rule IN ('negotiated', 'designated') AND coalesce(btrim(p_reason), '') = '' THEN
            PERFORM gridgov_fail('GG012', format('a %s dispatch needs a reason', v_rule));
        END IF;
        IF v_rule = 'designated' AND p_role NOT IN ('leader', 'shift_leader') THEN
            PERFORM gridgov_fail('GG403', 'only a leader or shift leader designates a handler');
        END IF;
    END IF;
    IF p_action = 'rate' THEN
        v_sat := (p_changes->>'satisfaction')::integer;
        IF v_sat IS NULL OR v_sat NOT BETWEEN 1 AND 5 THEN
            PERFORM gridgov_fail('GG014', 'rate needs a satisfaction from 1 to 5');
        END IF;
    END IF;

    PERFORM set_config('gridgov.transition_case', p_case_id::text, true);
    UPDATE cases AS u SET
        status = t.to_status,
        version = u.version + 1,
        pending_request = t.sets_request,
        accepted_at = CASE WHEN p_action = 'accept' THEN v_at ELSE u.accepted_at END,
        registered_at = CASE WHEN p_action = 'register' THEN v_at ELSE u.registered_at END,
        dispatched_at = CASE WHEN p_action = 'dispatch' THEN v_at ELSE u.dispatched_at END,
        handled_at = CASE WHEN p_action = 'handle' THEN v_at ELSE u.handled_at END,
        closed_at = CASE WHEN p_action = 'close' THEN v_at
                         WHEN p_action = 'reopen' THEN NULL ELSE u.closed_at END,
        rework_count = u.rework_count + (p_action = 'rework')::int,
        reopen_count = u.reopen_count + (p_action = 'reopen')::int,
        department_id = coalesce((p_changes->>'department_id')::integer, u.department_id),
        deadline_at = coalesce((p_changes->>'deadline_at')::timestamptz, u.deadline_at),
        dispatch_rule = coalesce(v_rule, u.dispatch_rule),
        dispatch_reason = CASE WHEN p_action = 'dispatch' THEN p_changes->>'dispatch_reason'
                               ELSE u.dispatch_reason END,
        satisfaction = coalesce(v_sat, u.satisfaction),
        merged_into = coalesce((p_changes->>'merged_into')::bigint, u.merged_into)
    WHERE u.id = p_case_id;
    PERFORM set_config('gridgov.transition_case', '', true);

    INSERT INTO case_events (case_id, street_code, at, actor, role, action, from_status,
                             to_status, reason, attachments)
    VALUES (p_case_id, c.street_code, v_at, v_actor, p_role, p_action, c.status, t.to_status,
            p_reason, p_attachments)
    RETURNING id INTO v_event;

    IF p_action = 'dispatch' THEN
        INSERT INTO case_assignments (case_id, street_code, department_id, role, rule, reason,
                                      assigned_at, deadline_at, event_id)
        VALUES (p_case_id, c.street_code, v_dept, 'lead', v_rule,
                coalesce(p_changes->>'dispatch_reason', p_reason, v_rule), v_at,
                (p_changes->>'deadline_at')::timestamptz, v_event);
        FOR v_assist IN SELECT * FROM jsonb_array_elements(coalesce(p_changes->'assists', '[]'))
        LOOP
            INSERT INTO case_assignments (case_id, street_code, department_id, role, rule,
                                          reason, assigned_at, deadline_at, event_id)
            VALUES (p_case_id, c.street_code, (v_assist->>'department_id')::integer, 'assist',
                    v_rule, coalesce(v_assist->>'reason', 'joint handling'), v_at,
                    (v_assist->>'deadline_at')::timestamptz, v_event);
        END LOOP;
    END IF;
    RETURN QUERY SELECT p_case_id, t.to_status, c.version + 1, v_event;
END $$;
COMMENT ON FUNCTION case_transition IS 'The only way a case changes status: checks transition, role, area, version and the change keys the action takes; time now() and actor from the verified identity (a privileged loader may give both); writes the history row in the same transaction.';
"""

# case_report: the same rule for the time and the actor of the first history row
REPORT_PATCH = r"""
DO $patch$
DECLARE
    v_src text := pg_get_functiondef('case_report(text, double precision, double precision, text,
        text, text, text, jsonb, text, timestamptz, bigint[], text, text, text, text, text)'::regprocedure);
BEGIN
    IF position('gridgov_acting_actor' in v_src) = 0 THEN
        v_src := replace(v_src, 'PERFORM gridgov_check_role(p_role, NULL, NULL);',
            'PERFORM gridgov_check_role(p_role, NULL, NULL);
    p_actor := gridgov_acting_actor(p_actor);
    p_at := CASE WHEN gridgov_privileged() THEN coalesce(p_at, now()) ELSE now() END;');
        EXECUTE v_src;
    END IF;
END $patch$;
"""

REPORT_UNPATCH = r"""
DO $patch$
DECLARE
    v_src text := pg_get_functiondef('case_report(text, double precision, double precision, text,
        text, text, text, jsonb, text, timestamptz, bigint[], text, text, text, text, text)'::regprocedure);
BEGIN
    v_src := replace(v_src, '
    p_actor := gridgov_acting_actor(p_actor);
    p_at := CASE WHEN gridgov_privileged() THEN coalesce(p_at, now()) ELSE now() END;', '');
    EXECUTE v_src;
END $patch$;
"""


def upgrade() -> None:
    op.execute(CHECKS)
    op.execute(TRANSITION)
    op.execute(REPORT_PATCH)


def downgrade() -> None:
    # the 0002 body of case_transition comes back from that revision's own text
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "gridgov_0002", Path(__file__).with_name("0002_workflow.py")
    )
    assert spec is not None and spec.loader is not None
    base = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(base)
    body = base.UPGRADE.split("CREATE FUNCTION gridgov_guard_case_status")[0]
    fn = body[body.index("CREATE FUNCTION case_transition") :]
    op.execute(REPORT_UNPATCH)
    op.execute(fn.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    op.execute("""
        DROP FUNCTION IF EXISTS gridgov_acting_actor(text);
        DROP FUNCTION IF EXISTS gridgov_check_changes(bigint, text, jsonb, jsonb, timestamptz);
    """)
