"""The leader's measures from a rollup: per local day, street, community, grid and department.

The measures (``layers.measures``) scanned a year of cases with self-joins (recurrence,
false closure, part recurrence, missed reports, extensions): minutes at 1,000,000 cases.
``case_measures_daily`` holds, per local day of report, street, community, grid and
handling department, the counts each rate is made of, and — so that the medians stay
exact — the hours to fix and to first response as arrays, and the report and deadline
times of the cases still open (backlog age and overdue cases depend on "now").
``case_part_daily`` holds the same per category and part (the recurring parts list).

Both are filled by ``gridgov_refresh_case_measures(since)``: all days when ``since`` is
NULL, else only the days of cases reported, accepted, dispatched, handled or closed since
``since`` and of cases closed in the 30 days before it (a new report can make them
recurrences). Recurrence is counted within 30 days, as the raw measures' default.
Plain SELECTs on ``cases`` and ``case_events``: works on partitioned tables too.

Revision ID: 0105_leader_rollup
Revises: 0100_partitions
Create Date: 2026-12-02
"""

from alembic import op

revision = "0105_leader_rollup"
down_revision = "0100_partitions"
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
TABLES = ("case_measures_daily", "case_part_daily")

REFRESH = r"""
CREATE FUNCTION gridgov_refresh_case_measures(p_since date DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_tz    text := gridgov_time_zone();
    v_from  timestamptz;
    v_days  date[];
    v_n     integer;
BEGIN
    IF p_since IS NULL THEN
        TRUNCATE case_measures_daily, case_part_daily;
    ELSE
        v_from := p_since::timestamp AT TIME ZONE v_tz;
        SELECT coalesce(array_agg(DISTINCT (c.reported_at AT TIME ZONE v_tz)::date), '{}')
          INTO v_days
          FROM cases c
         WHERE c.reported_at >= v_from OR c.accepted_at >= v_from
            OR c.dispatched_at >= v_from OR c.handled_at >= v_from
            OR c.closed_at >= v_from - interval '30 days';
        DELETE FROM case_measures_daily WHERE day = ANY (v_days);
        DELETE FROM case_part_daily WHERE day = ANY (v_days);
    END IF;
    WITH scope AS MATERIALIZED (
        SELECT c.* FROM cases c
        WHERE p_since IS NULL OR (c.reported_at AT TIME ZONE v_tz)::date = ANY (v_days)
    ), part_recurred AS MATERIALIZED (
        -- cases have no index on part_id: a hash join finds the part faults that came back
        SELECT DISTINCT c.id FROM scope c
        JOIN cases b ON b.part_id = c.part_id AND b.reported_at > c.closed_at
                    AND b.reported_at <= c.closed_at + interval '30 days'
        WHERE c.part_id IS NOT NULL AND c.status IN ('closed', 'rated', 'archived')
    ), flags AS MATERIALIZED (
        SELECT (c.reported_at AT TIME ZONE v_tz)::date AS day, c.street_code, c.community_id,
               c.grid_id, c.department_id, c.category_id, c.part_id, c.status, c.source,
               c.status IN ('closed', 'rated', 'archived') AS closed,
               c.status NOT IN ('closed', 'rated', 'archived', 'rejected') AS is_open,
               c.closed_at, c.handled_at, c.deadline_at, c.reported_at, c.accepted_at,
               c.dispatched_at, c.rework_count, c.reopen_count, c.satisfaction,
               ST_X(c.geom) AS lon, ST_Y(c.geom) AS lat,
               nxt.at IS NOT NULL AS recurred,
               nxt.at <= c.closed_at + interval '7 days' AS recurred_7d,
               c.id IN (SELECT e.case_id FROM case_events e WHERE e.action = 'extend')
                   AS extended,
               c.id IN (SELECT id FROM part_recurred) AS part_recurred,
               c.source IN ('hotline', 'app', 'web') AND NOT EXISTS (
                   SELECT 1 FROM cases p
                   WHERE p.source = 'patrol' AND p.category_id = c.category_id
                     AND p.h3_r10 = c.h3_r10 AND p.reported_at <= c.reported_at
                     AND p.reported_at > c.reported_at - interval '7 days') AS missed
        FROM scope c
        LEFT JOIN LATERAL (
            -- the first case of the same category in the same H3 r10 cell after closing
            SELECT min(b.reported_at) AS at FROM cases b
            WHERE c.status IN ('closed', 'rated', 'archived')
              AND b.category_id = c.category_id AND b.h3_r10 = c.h3_r10
              AND b.reported_at > c.closed_at
              AND b.reported_at <= c.closed_at + interval '30 days') nxt ON true
    ), parts AS (
        INSERT INTO case_part_daily (day, street_code, community_id, category_id, part_id,
                                     grid_id, department_id, cases, closed, recurrences,
                                     sum_lon, sum_lat)
        SELECT day, street_code, community_id, category_id, part_id, grid_id, department_id,
               count(*), count(*) FILTER (WHERE closed), count(*) FILTER (WHERE part_recurred),
               sum(lon), sum(lat)
        FROM flags WHERE part_id IS NOT NULL
        GROUP BY 1, 2, 3, 4, 5, 6, 7
        RETURNING 1
    )
    INSERT INTO case_measures_daily (
        day, street_code, community_id, grid_id, department_id, cases, not_rejected,
        dispatched, dispatched_no_rework, closed, closed_with_deadline, closed_on_time,
        handled, handled_with_deadline, handled_on_time, reworked, recurred, false_closed,
        patrol, rated, satisfied, extended, part_closed, part_recurred, missed_reports,
        open_cases, hours_to_fix, hours_to_response, open_reported_at, open_deadline_at)
    SELECT day, street_code, community_id, grid_id, department_id,
           count(*),
           count(*) FILTER (WHERE status <> 'rejected'),
           count(*) FILTER (WHERE dispatched_at IS NOT NULL),
           count(*) FILTER (WHERE dispatched_at IS NOT NULL AND rework_count = 0),
           count(*) FILTER (WHERE closed),
           count(*) FILTER (WHERE closed AND deadline_at IS NOT NULL),
           count(*) FILTER (WHERE closed AND closed_at <= deadline_at),
           count(*) FILTER (WHERE handled_at IS NOT NULL),
           count(*) FILTER (WHERE handled_at IS NOT NULL AND deadline_at IS NOT NULL),
           count(*) FILTER (WHERE handled_at <= deadline_at),
           count(*) FILTER (WHERE rework_count > 0),
           count(*) FILTER (WHERE recurred),
           count(*) FILTER (WHERE closed AND (reopen_count > 0 OR recurred_7d)),
           count(*) FILTER (WHERE source = 'patrol'),
           count(*) FILTER (WHERE satisfaction IS NOT NULL),
           count(*) FILTER (WHERE satisfaction >= 4),
           count(*) FILTER (WHERE extended),
           count(*) FILTER (WHERE closed AND part_id IS NOT NULL),
           count(*) FILTER (WHERE part_recurred),
           count(*) FILTER (WHERE missed),
           count(*) FILTER (WHERE is_open),
           coalesce(array_agg((extract(epoch FROM handled_at - reported_at) / 3600)::float8)
                    FILTER (WHERE handled_at IS NOT NULL), '{}'),
           coalesce(array_agg((extract(epoch FROM accepted_at - reported_at) / 3600)::float8)
                    FILTER (WHERE accepted_at IS NOT NULL), '{}'),
           coalesce(array_agg(reported_at ORDER BY reported_at) FILTER (WHERE is_open), '{}'),
           coalesce(array_agg(deadline_at ORDER BY reported_at) FILTER (WHERE is_open), '{}')
    FROM flags
    GROUP BY 1, 2, 3, 4, 5;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    RETURN v_n;
END $$;
COMMENT ON FUNCTION gridgov_refresh_case_measures IS 'Rebuild the measures rollups (case_measures_daily, case_part_daily): all days (NULL) or the days touched since p_since; returns the case_measures_daily rows written.';
"""


def upgrade() -> None:
    policies = "\n".join(
        f"""
ALTER TABLE {t} ENABLE ROW LEVEL SECURITY;
CREATE POLICY {t}_centre ON {t} FOR SELECT TO {", ".join(CENTRE_ROLES)} USING (true);
CREATE POLICY {t}_area ON {t} FOR SELECT TO {", ".join(AREA_ROLES)}
    USING (gridgov_area_allows(street_code, community_id));
GRANT SELECT ON {t} TO {", ".join(ROLES)};"""
        for t in TABLES
    )
    op.execute(f"""
CREATE TABLE case_measures_daily (
    day                   date NOT NULL,
    street_code           char(9) NOT NULL,
    community_id          integer,
    grid_id               integer,
    department_id         integer,
    cases                 integer NOT NULL,
    not_rejected          integer NOT NULL,
    dispatched            integer NOT NULL,
    dispatched_no_rework  integer NOT NULL,
    closed                integer NOT NULL,
    closed_with_deadline  integer NOT NULL,
    closed_on_time        integer NOT NULL,
    handled               integer NOT NULL,
    handled_with_deadline integer NOT NULL,
    handled_on_time       integer NOT NULL,
    reworked              integer NOT NULL,
    recurred              integer NOT NULL,
    false_closed          integer NOT NULL,
    patrol                integer NOT NULL,
    rated                 integer NOT NULL,
    satisfied             integer NOT NULL,
    extended              integer NOT NULL,
    part_closed           integer NOT NULL,
    part_recurred         integer NOT NULL,
    missed_reports        integer NOT NULL,
    open_cases            integer NOT NULL,
    hours_to_fix          float8[] NOT NULL,
    hours_to_response     float8[] NOT NULL,
    open_reported_at      timestamptz[] NOT NULL,
    open_deadline_at      timestamptz[] NOT NULL,
    refreshed_at          timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE case_measures_daily IS 'What the performance measures are made of, per local day of report, street, community, grid and department (gridgov_refresh_case_measures; gridgov analyse rollups).';
CREATE INDEX case_measures_daily_day_idx ON case_measures_daily (day);
CREATE TABLE case_part_daily (
    day            date NOT NULL,
    street_code    char(9) NOT NULL,
    community_id   integer,
    category_id    integer NOT NULL,
    part_id        integer NOT NULL,
    grid_id        integer,
    department_id  integer,
    cases          integer NOT NULL,
    closed         integer NOT NULL,
    recurrences    integer NOT NULL,
    sum_lon        float8 NOT NULL,
    sum_lat        float8 NOT NULL
);
COMMENT ON TABLE case_part_daily IS 'Part faults per local day, category, part, grid and department: cases, closed, closed cases the same part came back within 30 days (recurring parts list).';
CREATE INDEX case_part_daily_day_idx ON case_part_daily (day);
{policies}
{REFRESH}
SELECT gridgov_refresh_case_measures(NULL);
""")


def downgrade() -> None:
    op.execute("""
DROP FUNCTION IF EXISTS gridgov_refresh_case_measures(date);
DROP TABLE IF EXISTS case_part_daily;
DROP TABLE IF EXISTS case_measures_daily;
""")
