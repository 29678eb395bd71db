"""Dashboard users and area scoping of the map layers.

- ``app_users``: who may log in to the dashboard, with a scrypt password hash,
  a workflow role and its scope (a street or community code, a department code).
  Only the application's own login reads it; the ``gridgov_*`` roles cannot.
- SELECT on the layers the pages read (parts, patrols, rollups, coverage, plans …)
  for the ``gridgov_*`` roles, so that every page can run under the logged-in role.
- Row-level security on ``communities``, ``grids`` and ``parts``: area-scoped roles
  (grid worker, supervisor) see only their street or community, like ``cases``;
  ``grids_current`` becomes a ``security_invoker`` view so the policy applies through it.

Revision ID: 0007
Revises: 0002, 0004 (a merge: roles and RLS of 0002, rollup tables of 0004)
Create Date: 2026-11-30
"""

from alembic import op

revision = "0007"
down_revision = ("0002", "0004")  # the workflow roles, and the rollup tables it grants on
branch_labels = None
depends_on = None

PG_ROLES = [
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
CENTRE_ROLES = [r for r in PG_ROLES if r not in AREA_ROLES]
READ_TABLES = [
    "roads",
    "buildings",
    "parts",
    "patrol_points",
    "patrols",
    "case_daily",
    "case_daily_major",
    "hotspot_cells",
    "emerging_cells",
    "patrol_plans",
    "grid_coverage",
    "gridgov_meta",
]
# workers hold names and phones: readable by the role, masked columns only are shown
READ_TABLES_PERSONAL = ["workers"]
AREA = "coalesce(current_setting('gridgov.area', true), '')"


def upgrade() -> None:
    op.execute(f"""
CREATE TABLE app_users (
    username        text PRIMARY KEY CHECK (username ~ '^[A-Za-z0-9_.-]{{2,64}}$'),
    display_name    text NOT NULL,
    password_hash   text NOT NULL CHECK (password_hash LIKE 'scrypt$%'),
    role            text NOT NULL REFERENCES workflow_roles(code),
    area            text CHECK (area ~ '^([0-9]{{9}}|[0-9]{{12}})$'),
    department_code text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    disabled_at     timestamptz,
    CHECK (role NOT IN ('grid_worker', 'supervisor') OR area IS NOT NULL),
    CHECK (role <> 'handler' OR department_code IS NOT NULL)
);
REVOKE ALL ON app_users FROM PUBLIC;
COMMENT ON TABLE app_users IS 'Dashboard logins: scrypt password hash, workflow role, area (street 9 / community 12 digits) and department scope.';

GRANT SELECT ON {", ".join(READ_TABLES + READ_TABLES_PERSONAL)} TO {", ".join(PG_ROLES)};

ALTER TABLE communities ENABLE ROW LEVEL SECURITY;
ALTER TABLE grids ENABLE ROW LEVEL SECURITY;
ALTER TABLE parts ENABLE ROW LEVEL SECURITY;
CREATE POLICY communities_centre ON communities FOR SELECT TO {", ".join(CENTRE_ROLES)}
    USING (true);
CREATE POLICY communities_area ON communities FOR SELECT TO {", ".join(AREA_ROLES)}
    USING ({AREA} <> '' AND left(code, length({AREA})) = {AREA});
CREATE POLICY grids_centre ON grids FOR SELECT TO {", ".join(CENTRE_ROLES)} USING (true);
CREATE POLICY grids_area ON grids FOR SELECT TO {", ".join(AREA_ROLES)}
    USING (EXISTS (SELECT 1 FROM communities c WHERE c.id = grids.community_id));
CREATE POLICY parts_centre ON parts FOR SELECT TO {", ".join(CENTRE_ROLES)} USING (true);
CREATE POLICY parts_area ON parts FOR SELECT TO {", ".join(AREA_ROLES)}
    USING (EXISTS (SELECT 1 FROM communities c WHERE c.id = parts.community_id));
ALTER VIEW grids_current SET (security_invoker = true);
""")


def downgrade() -> None:
    op.execute(f"""
ALTER VIEW grids_current RESET (security_invoker);
DROP POLICY IF EXISTS parts_area ON parts;
DROP POLICY IF EXISTS parts_centre ON parts;
DROP POLICY IF EXISTS grids_area ON grids;
DROP POLICY IF EXISTS grids_centre ON grids;
DROP POLICY IF EXISTS communities_area ON communities;
DROP POLICY IF EXISTS communities_centre ON communities;
ALTER TABLE parts DISABLE ROW LEVEL SECURITY;
ALTER TABLE grids DISABLE ROW LEVEL SECURITY;
ALTER TABLE communities DISABLE ROW LEVEL SECURITY;
REVOKE SELECT ON {", ".join(READ_TABLES + READ_TABLES_PERSONAL)} FROM {", ".join(PG_ROLES)};
DROP TABLE IF EXISTS app_users;
""")
