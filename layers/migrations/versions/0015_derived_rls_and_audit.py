"""Row-level security on the derived layers; audits that cannot be edited or rolled back.

- Derived tables (rollups, density bands, hotspot and emerging cells, coverage,
  patrol points and lines, patrol plans, workers with their names and phones)
  had no row-level security: a grid worker or community supervisor read every
  community's rows. Each now has a policy like ``cases``: the centre roles see
  every row, the area-scoped roles only rows in their verified area (see 0013).
- ``export_audit`` is append-only (as ``personal_data_access`` already was).
- Unmasked reporter data is read in two steps so that the record survives a
  rollback of the reading transaction: ``personal_data_access_open()`` writes
  the audit row (the caller commits it in its own short transaction) and
  ``reporter_contacts(access_id)`` returns the rows only for an audit row that
  another, committed transaction wrote for the same role, actor and cases in
  the last five minutes.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

ROLES = [
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
AREA_ROLES = ["gridgov_grid_worker", "gridgov_supervisor"]
CENTRE_ROLES = [r for r in ROLES if r not in AREA_ROLES]
AREA = "(SELECT gridgov_area())"
IN_AREA_CODE = (
    f"{AREA} IS NOT NULL AND CASE WHEN community_code IS NULL THEN length({AREA}) = 9 "
    f"ELSE left(community_code, length({AREA})) = {AREA} END"
)
# table -> what an area-scoped role may see (the RLS of communities, grids and
# workers applies inside the EXISTS, so each reduces to the verified area)
AREA_POLICIES = {
    "case_daily": "gridgov_area_allows(street_code, community_id)",
    "case_daily_major": "EXISTS (SELECT 1 FROM communities c WHERE c.id = community_id)",
    "density_bands": IN_AREA_CODE,
    "hotspot_cells": IN_AREA_CODE,
    "emerging_cells": (
        "EXISTS (SELECT 1 FROM communities c WHERE ST_Intersects(c.geom, emerging_cells.geom))"
    ),
    "grid_coverage": "EXISTS (SELECT 1 FROM grids g WHERE g.id = grid_id)",
    "workers": "EXISTS (SELECT 1 FROM communities c WHERE c.id = community_id)",
    "patrol_points": "EXISTS (SELECT 1 FROM workers w WHERE w.id = worker_id)",
    "patrols": "EXISTS (SELECT 1 FROM workers w WHERE w.id = worker_id)",
    "patrol_plans": "EXISTS (SELECT 1 FROM workers w WHERE w.id = worker_id)",
}

AUDIT = r"""
CREATE TRIGGER export_audit_append_only BEFORE UPDATE OR DELETE ON export_audit
    FOR EACH ROW EXECUTE FUNCTION gridgov_forbid_change();
COMMENT ON TABLE export_audit IS 'Who exported which layer, filtered how, with or without personal data (append-only).';

CREATE FUNCTION personal_data_access_open(p_case_ids bigint[], p_actor text, p_role text,
                                          p_purpose text DEFAULT 'view')
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_id    bigint;
    v_n     integer;
BEGIN
    PERFORM gridgov_check_role(p_role, NULL, NULL);
    IF NOT (SELECT sees_personal_data FROM workflow_roles WHERE code = p_role) THEN
        PERFORM gridgov_fail('GG403', format('role %s sees reporters only masked', p_role));
    END IF;
    IF p_purpose NOT IN ('view', 'export') THEN
        PERFORM gridgov_fail('GG010', format('purpose %L is not view or export', p_purpose));
    END IF;
    SELECT count(*) INTO v_n FROM reporters r WHERE r.case_id = ANY (p_case_ids);
    INSERT INTO personal_data_access (actor, role, purpose, case_ids, n_rows)
    VALUES (gridgov_acting_actor(p_actor), p_role, p_purpose, p_case_ids, v_n)
    RETURNING id INTO v_id;
    RETURN v_id;
END $$;
COMMENT ON FUNCTION personal_data_access_open IS 'Record a view or export of unmasked reporters; commit it in its own transaction, then read with reporter_contacts(access_id).';

CREATE FUNCTION gridgov_committed_elsewhere(p_xmin xid) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    -- the next transaction id (64 bits) gives the epoch of the 32-bit p_xmin
    v_next  bigint := pg_snapshot_xmax(pg_current_snapshot())::text::bigint;
    v_low   bigint := p_xmin::text::bigint;
    v_epoch bigint := v_next >> 32;
BEGIN
    IF v_low >= (v_next & 4294967295) THEN
        v_epoch := v_epoch - 1;  -- the 32-bit counter wrapped since p_xmin
    END IF;
    IF v_epoch < 0 THEN
        RETURN false;
    END IF;
    RETURN pg_xact_status(((v_epoch << 32) | v_low)::text::xid8) = 'committed';
END $$;
COMMENT ON FUNCTION gridgov_committed_elsewhere IS 'True when the row version with xmin p_xmin was written by a transaction that has committed (so not by this one, nor by one of its subtransactions).';

DROP FUNCTION reporter_contacts(bigint[], text, text, text);
CREATE FUNCTION reporter_contacts(p_access_id bigint)
RETURNS TABLE (case_id bigint, name text, phone text, channel text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
#variable_conflict use_column
DECLARE
    a       personal_data_access;
    v_xmin  xid;
BEGIN
    SELECT p.* INTO a FROM personal_data_access p WHERE p.id = p_access_id;
    SELECT p.xmin INTO v_xmin FROM personal_data_access p WHERE p.id = p_access_id;
    IF NOT FOUND THEN
        PERFORM gridgov_fail('GG403', format('no record %s of this access to personal data', p_access_id));
    END IF;
    PERFORM gridgov_check_role(a.role, NULL, NULL);
    IF NOT gridgov_committed_elsewhere(v_xmin) THEN
        PERFORM gridgov_fail('GG403', 'the record of this access must be committed first, in its own transaction');
    END IF;
    IF a.actor <> gridgov_acting_actor(a.actor) OR a.at < now() - interval '5 minutes' THEN
        PERFORM gridgov_fail('GG403', format('access record %s is not this actor''s or is stale', p_access_id));
    END IF;
    RETURN QUERY SELECT r.case_id, r.name, r.phone, r.channel FROM reporters r
                 WHERE r.case_id = ANY (a.case_ids) ORDER BY r.case_id, r.id;
END $$;
COMMENT ON FUNCTION reporter_contacts(bigint) IS 'Unmasked reporters of the cases an access record (personal_data_access_open, committed) names.';
REVOKE EXECUTE ON FUNCTION personal_data_access_open, reporter_contacts(bigint) FROM PUBLIC;
"""


def _policies() -> str:
    out = []
    for table, area_rule in AREA_POLICIES.items():
        out.append(f"""
ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
CREATE POLICY {table}_centre ON {table} FOR SELECT TO {", ".join(CENTRE_ROLES)} USING (true);
CREATE POLICY {table}_area ON {table} FOR SELECT TO {", ".join(AREA_ROLES)} USING ({area_rule});
""")
    return "\n".join(out)


def upgrade() -> None:
    op.execute(_policies())
    op.execute(AUDIT)
    op.execute(f"""
GRANT EXECUTE ON FUNCTION personal_data_access_open, reporter_contacts(bigint)
    TO {", ".join(ROLES)};
""")


def downgrade() -> None:
    for table in AREA_POLICIES:
        op.execute(f"""
DROP POLICY IF EXISTS {table}_area ON {table};
DROP POLICY IF EXISTS {table}_centre ON {table};
ALTER TABLE {table} DISABLE ROW LEVEL SECURITY;
""")
    op.execute(f"""
DROP TRIGGER IF EXISTS export_audit_append_only ON export_audit;
DROP FUNCTION IF EXISTS reporter_contacts(bigint);
DROP FUNCTION IF EXISTS gridgov_committed_elsewhere(xid);
DROP FUNCTION IF EXISTS personal_data_access_open(bigint[], text, text, text);
CREATE FUNCTION reporter_contacts(p_case_ids bigint[], p_actor text, p_role text,
                                  p_purpose text DEFAULT 'view')
RETURNS TABLE (case_id bigint, name text, phone text, channel text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
#variable_conflict use_column
DECLARE
    v_n integer;
BEGIN
    PERFORM gridgov_check_role(p_role, NULL, NULL);
    IF NOT (SELECT sees_personal_data FROM workflow_roles WHERE code = p_role) THEN
        PERFORM gridgov_fail('GG403', format('role %s sees reporters only masked', p_role));
    END IF;
    SELECT count(*) INTO v_n FROM reporters r WHERE r.case_id = ANY (p_case_ids);
    INSERT INTO personal_data_access (actor, role, purpose, case_ids, n_rows)
    VALUES (p_actor, p_role, p_purpose, p_case_ids, v_n);
    RETURN QUERY SELECT r.case_id, r.name, r.phone, r.channel FROM reporters r
                 WHERE r.case_id = ANY (p_case_ids) ORDER BY r.case_id, r.id;
END $$;
REVOKE EXECUTE ON FUNCTION reporter_contacts(bigint[], text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reporter_contacts(bigint[], text, text, text) TO {", ".join(ROLES)};
""")
