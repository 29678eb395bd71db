"""Rollups: cases per day, patrol coverage per grid and week — so pages never rescan raw rows.

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-22
"""

from alembic import op

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE case_daily (
            day           date NOT NULL,
            street_code   char(9) NOT NULL,
            community_id  integer,
            grid_id       integer,
            h3_r9         bigint,
            category_id   integer NOT NULL,
            source        text NOT NULL,
            n             integer NOT NULL
        );
        COMMENT ON TABLE case_daily IS
            'Cases reported per local day, grid, H3 r9 cell, category and source (rebuilt by '
            'layers.rollups.refresh_rollups).';
        CREATE INDEX case_daily_day_idx ON case_daily (day);
        CREATE INDEX case_daily_h3_idx ON case_daily (h3_r9);
        CREATE TABLE case_daily_major (
            day           date NOT NULL,
            community_id  integer,
            major_id      integer NOT NULL,
            n             integer NOT NULL
        );
        COMMENT ON TABLE case_daily_major IS
            'Cases per local day, community and major class (trend charts).';
        CREATE INDEX case_daily_major_day_idx ON case_daily_major (day);
        CREATE TABLE grid_coverage (
            grid_id        integer NOT NULL REFERENCES grids(id) ON DELETE CASCADE,
            week_start     date NOT NULL,
            week_end       date NOT NULL,
            covered_share  double precision NOT NULL CHECK (covered_share BETWEEN 0 AND 1),
            walked_m       double precision NOT NULL,
            reach_m        double precision NOT NULL,
            computed_at    timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (grid_id, week_start)
        );
        COMMENT ON TABLE grid_coverage IS
            'Share of each grid within reach_m of a patrol track, per week (gridgov analyse '
            'coverage).';
        -- recurrence: the same category again in the same H3 r10 cell after closing
        CREATE INDEX cases_recurrence_idx ON cases (category_id, h3_r10, reported_at);
        -- reports made per worker and week (supervisor workload)
        CREATE INDEX case_events_reports_idx ON case_events (at) WHERE action = 'report';
    """)


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS case_events_reports_idx")
    op.execute("DROP INDEX IF EXISTS cases_recurrence_idx")
    op.execute("DROP TABLE IF EXISTS grid_coverage")
    op.execute("DROP TABLE IF EXISTS case_daily_major")
    op.execute("DROP TABLE IF EXISTS case_daily")
