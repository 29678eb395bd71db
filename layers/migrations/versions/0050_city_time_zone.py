"""The city's time zone in the database comes from the city profile, not from SQL text.

``city_settings`` holds settings of the city profile that SQL needs (filled
here and refreshed by every ``gridgov db migrate`` from ``data/city.toml`` /
``GRIDGOV_CITY_PROFILE``); ``gridgov_time_zone()`` reads the time zone from it.
``case_report`` (migration 0002) numbered cases by the local day of a zone
written into its body; it now asks ``gridgov_time_zone()``. The function is
rewritten from its current definition, so later hardening of it is kept.

Revision ID: 0050
Revises: 0012
Create Date: 2026-12-01
"""

import re

import sqlalchemy as sa
from alembic import op

from city import time_zone

revision = "0050"
down_revision = "0034"  # last: rewrites case_report from its current (hardened) body
branch_labels = None
depends_on = None

_ZONE_LITERAL = r"AT TIME ZONE '[A-Za-z0-9_+/-]+'"
_ZONE_CALL = "AT TIME ZONE gridgov_time_zone()"


def upgrade() -> None:
    op.execute("""
CREATE TABLE city_settings (
    key   text PRIMARY KEY,
    value text NOT NULL
);
COMMENT ON TABLE city_settings IS 'Settings of the city profile (data/city.toml) that SQL needs; written by gridgov db migrate.';
CREATE FUNCTION gridgov_time_zone() RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
    SELECT coalesce((SELECT value FROM city_settings WHERE key = 'time_zone'), 'UTC')
$$;
COMMENT ON FUNCTION gridgov_time_zone IS 'The city''s IANA time zone (city profile), e.g. for local days of case numbers.';
""")
    op.get_bind().execute(
        sa.text("INSERT INTO city_settings (key, value) VALUES ('time_zone', :tz)"),
        {"tz": time_zone().key},
    )
    _rewrite_case_report(_ZONE_LITERAL, _ZONE_CALL)


def downgrade() -> None:
    zone = op.get_bind().execute(sa.text("SELECT gridgov_time_zone()")).scalar_one()
    _rewrite_case_report(r"AT TIME ZONE gridgov_time_zone\(\)", f"AT TIME ZONE '{zone}'")
    op.execute("DROP FUNCTION gridgov_time_zone(); DROP TABLE city_settings;")


def _rewrite_case_report(pattern: str, replacement: str) -> None:
    """Recreate ``case_report`` from its current definition with ``pattern`` replaced."""
    bind = op.get_bind()
    old = bind.execute(
        sa.text("""SELECT pg_get_functiondef(p.oid) FROM pg_proc p
                   JOIN pg_namespace n ON n.oid = p.pronamespace
                   WHERE p.proname = 'case_report' AND n.nspname = 'public'""")
    ).scalar_one()
    new = re.sub(pattern, replacement, old)
    if new == old:
        raise RuntimeError(f"case_report: no time zone to replace (pattern {pattern})")
    # the driver's own execute: the body is sent as it is (no bind-parameter parsing)
    bind.connection.driver_connection.execute(new)  # type: ignore[union-attr]
