"""The leader's rollups stay fresh: a queue of dirty days, refreshed day by day.

- ``rollup_dirty_days`` (day, street_code, queued_at): the local days (of report) whose
  rollup rows a change to ``cases`` may have made stale. Statement-level triggers on
  ``cases`` (insert, update, delete; transition tables, so one insert per statement, not
  per row) and on ``case_events`` (an ``extend`` event) append to it. Append-only, no key:
  two transactions touching the same day never wait for each other; duplicates are
  folded when the queue is read. A bulk load that turns triggers off queues its days
  itself (``layers.rollup_queue.queue_days``).
- ``gridgov_refresh_dirty_rollups(p_max_days)``: claims the queue and rebuilds those days
  of ``case_daily``, ``case_daily_major``, ``case_measures_daily`` and
  ``case_part_daily``, plus the days of the cases the queued days' cases may have changed
  a flag of (a closed case of the same class and H3 r10 cell or the same part that a new
  report makes a recurrence; a resident report a patrol report no longer leaves
  "missed"). The result equals a full refresh. With ``p_max_days``, a queue of more
  distinct days than that is left for ``gridgov analyse rollups --dirty`` (returns minus
  the days waiting). Refreshers take turns (an advisory lock).
- ``gridgov_refresh_case_measures_days(p_days)``: the measures rollups of those days
  (NULL: all); ``gridgov_refresh_case_measures(p_since)`` now calls it.
- ``cases_part_closed_idx``: part faults by part and closing time (what finds the part
  faults a report makes recurrences, without reading every case).

Revision ID: 0125_leader_area
Revises: 0115_field_gaps
Create Date: 2026-12-03
"""

from alembic import op

revision = "0125_leader_area"
down_revision = "0115_field_gaps"
branch_labels = None
depends_on = None

REFRESHERS = "gridgov_leader, gridgov_system, gridgov_supervisor, gridgov_shift_leader"
RECURRENCE = "interval '30 days'"
"""The rollup's recurrence window (layers.measures_rollup.ROLLUP_RECURRENCE_DAYS)."""

QUEUE = r"""
CREATE TABLE rollup_dirty_days (
    day          date NOT NULL,
    street_code  char(9) NOT NULL,
    queued_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE rollup_dirty_days IS 'Local days (of report) whose rollup rows may be stale: appended by triggers on cases and case_events and by bulk loads (layers.rollup_queue.queue_days); emptied by gridgov_refresh_dirty_rollups().';
CREATE INDEX rollup_dirty_days_day_idx ON rollup_dirty_days (day);
CREATE INDEX cases_part_closed_idx ON cases (part_id, closed_at) WHERE part_id IS NOT NULL;

CREATE FUNCTION gridgov_queue_case_days() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_tz text := gridgov_time_zone();
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO rollup_dirty_days (day, street_code)
        SELECT DISTINCT (n.reported_at AT TIME ZONE v_tz)::date, n.street_code
        FROM gridgov_new_cases n;
    END IF;
    IF TG_OP = 'DELETE' THEN
        INSERT INTO rollup_dirty_days (day, street_code)
        SELECT DISTINCT (o.reported_at AT TIME ZONE v_tz)::date, o.street_code
        FROM gridgov_old_cases o
        UNION
        SELECT x.day, x.street_code
        FROM gridgov_rollup_neighbour_days(
            ARRAY(SELECT o.reported_at FROM gridgov_old_cases o),
            ARRAY(SELECT o.category_id FROM gridgov_old_cases o),
            ARRAY(SELECT o.h3_r10 FROM gridgov_old_cases o),
            ARRAY(SELECT o.part_id FROM gridgov_old_cases o),
            ARRAY(SELECT o.source FROM gridgov_old_cases o)) x;
    ELSIF TG_OP = 'UPDATE' THEN
        -- a case moved to another class, cell, part or source: the cases its old keys
        -- made flags of (found from the cases as they are now, so look them up here)
        INSERT INTO rollup_dirty_days (day, street_code)
        SELECT x.day, x.street_code
        FROM (SELECT o.* FROM gridgov_old_cases o JOIN gridgov_new_cases n ON n.id = o.id
              WHERE (o.category_id, o.h3_r10, o.part_id, o.source, o.street_code)
                    IS DISTINCT FROM (n.category_id, n.h3_r10, n.part_id, n.source,
                                      n.street_code)) o,
             LATERAL gridgov_rollup_neighbour_days(ARRAY[o.reported_at], ARRAY[o.category_id],
                 ARRAY[o.h3_r10], ARRAY[o.part_id], ARRAY[o.source]) x
        UNION
        SELECT (o.reported_at AT TIME ZONE v_tz)::date, o.street_code
        FROM gridgov_old_cases o JOIN gridgov_new_cases n ON n.id = o.id
        WHERE o.street_code <> n.street_code;
    END IF;
    RETURN NULL;
END $$;
COMMENT ON FUNCTION gridgov_queue_case_days IS 'Statement trigger of cases: queue the local days of the rows written (and, for a deleted case or changed keys, of the cases they made flags of) in rollup_dirty_days.';

CREATE FUNCTION gridgov_queue_event_days() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    INSERT INTO rollup_dirty_days (day, street_code)
    SELECT DISTINCT (k.reported_at AT TIME ZONE gridgov_time_zone())::date, k.street_code
    FROM gridgov_new_events e JOIN case_keys k ON k.id = e.case_id
    WHERE e.action = 'extend';
    RETURN NULL;
END $$;
COMMENT ON FUNCTION gridgov_queue_event_days IS 'Statement trigger of case_events: an extension changes its case''s extended flag; queue the case''s day.';

CREATE TRIGGER cases_queue_days_insert AFTER INSERT ON cases
    REFERENCING NEW TABLE AS gridgov_new_cases
    FOR EACH STATEMENT EXECUTE FUNCTION gridgov_queue_case_days();
CREATE TRIGGER cases_queue_days_update AFTER UPDATE ON cases
    REFERENCING OLD TABLE AS gridgov_old_cases NEW TABLE AS gridgov_new_cases
    FOR EACH STATEMENT EXECUTE FUNCTION gridgov_queue_case_days();
CREATE TRIGGER cases_queue_days_delete AFTER DELETE ON cases
    REFERENCING OLD TABLE AS gridgov_old_cases
    FOR EACH STATEMENT EXECUTE FUNCTION gridgov_queue_case_days();
CREATE TRIGGER case_events_queue_days AFTER INSERT ON case_events
    REFERENCING NEW TABLE AS gridgov_new_events
    FOR EACH STATEMENT EXECUTE FUNCTION gridgov_queue_event_days();
"""

NEIGHBOURS = r"""
CREATE FUNCTION gridgov_rollup_neighbour_days(
    p_at timestamptz[], p_category integer[], p_cell bigint[], p_part integer[], p_source text[])
RETURNS TABLE (day date, street_code char(9))
LANGUAGE sql STABLE SET search_path = public, pg_temp AS $$
    -- the cases whose flags the probes (a case each: reported at, class, H3 r10 cell,
    -- part, source) take part in, as gridgov_refresh_case_measures_days sets them:
    WITH probe AS MATERIALIZED (
        SELECT * FROM unnest(p_at, p_category, p_cell, p_part, p_source)
               AS p(at, category_id, h3_r10, part_id, source)
    )
    -- recurrence and false closure: closed cases of the class in the cell, closed
    -- within the recurrence window before the probe's report
    SELECT (c.reported_at AT TIME ZONE gridgov_time_zone())::date, c.street_code
    FROM probe p JOIN cases c ON c.category_id = p.category_id AND c.h3_r10 = p.h3_r10
    WHERE c.status IN ('closed', 'rated', 'archived')
      AND c.closed_at < p.at AND c.closed_at >= p.at - {recurrence}
    UNION
    -- part recurrence: closed faults of the same part, closed within the window before
    SELECT (c.reported_at AT TIME ZONE gridgov_time_zone())::date, c.street_code
    FROM probe p JOIN cases c ON c.part_id = p.part_id
    WHERE p.part_id IS NOT NULL AND c.status IN ('closed', 'rated', 'archived')
      AND c.closed_at < p.at AND c.closed_at >= p.at - {recurrence}
    UNION
    -- missed reports: residents' reports of the class in the cell in the 7 days after a
    -- patrol's report
    SELECT (c.reported_at AT TIME ZONE gridgov_time_zone())::date, c.street_code
    FROM probe p JOIN cases c ON c.category_id = p.category_id AND c.h3_r10 = p.h3_r10
    WHERE p.source = 'patrol' AND c.source IN ('hotline', 'app', 'web')
      AND c.reported_at >= p.at AND c.reported_at < p.at + interval '7 days'
$$;
COMMENT ON FUNCTION gridgov_rollup_neighbour_days IS 'The (day, street) of the cases whose measures flags the given cases take part in (recurrence, false closure, part recurrence, missed reports).';
"""

MEASURES_DAYS = r"""
CREATE FUNCTION gridgov_refresh_case_measures_days(p_days date[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_tz    text := gridgov_time_zone();
    v_n     integer;
BEGIN
    IF p_days IS NULL THEN
        TRUNCATE case_measures_daily, case_part_daily;
    ELSE
        DELETE FROM case_measures_daily WHERE day = ANY (p_days);
        DELETE FROM case_part_daily WHERE day = ANY (p_days);
    END IF;
    WITH scope AS MATERIALIZED (
        SELECT c.* FROM cases c WHERE p_days IS NULL
        UNION ALL
        -- a day's cases by a range of report times (the index, and the months' partitions)
        SELECT c.* FROM unnest(p_days) AS q(day)
        JOIN cases c ON c.reported_at >= (q.day::timestamp AT TIME ZONE v_tz)
                    AND c.reported_at < ((q.day + 1)::timestamp AT TIME ZONE v_tz)
        WHERE p_days IS NOT NULL
    ), part_recurred AS MATERIALIZED (
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
COMMENT ON FUNCTION gridgov_refresh_case_measures_days IS 'Rebuild the measures rollups (case_measures_daily, case_part_daily) of the given local days (NULL: all); returns the case_measures_daily rows written.';

CREATE OR REPLACE FUNCTION gridgov_refresh_case_measures(p_since date DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_tz    text := gridgov_time_zone();
    v_from  timestamptz;
    v_days  date[];
BEGIN
    IF p_since IS NULL THEN
        RETURN gridgov_refresh_case_measures_days(NULL);
    END IF;
    v_from := p_since::timestamp AT TIME ZONE v_tz;
    SELECT coalesce(array_agg(DISTINCT (c.reported_at AT TIME ZONE v_tz)::date), '{}')
      INTO v_days
      FROM cases c
     WHERE c.reported_at >= v_from OR c.accepted_at >= v_from
        OR c.dispatched_at >= v_from OR c.handled_at >= v_from
        OR c.closed_at >= v_from - interval '30 days';
    RETURN gridgov_refresh_case_measures_days(v_days);
END $$;
"""

DIRTY = r"""
CREATE FUNCTION gridgov_refresh_dirty_rollups(p_max_days integer DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_tz      text := gridgov_time_zone();
    v_queued  date[];
    v_days    date[];
BEGIN
    -- refreshers take turns: a second one waits, then finds what the first left
    PERFORM pg_advisory_xact_lock(hashtext('gridgov_refresh_dirty_rollups'));
    SELECT coalesce(array_agg(DISTINCT q.day), '{}') INTO v_queued FROM rollup_dirty_days q;
    IF cardinality(v_queued) = 0 THEN
        RETURN 0;
    END IF;
    IF p_max_days IS NOT NULL AND cardinality(v_queued) > p_max_days THEN
        RETURN -cardinality(v_queued);
    END IF;
    -- claimed: what a concurrent transaction queues after this stays for the next run
    DELETE FROM rollup_dirty_days WHERE day = ANY (v_queued);
    WITH probe AS MATERIALIZED (
        SELECT c.reported_at, c.category_id, c.h3_r10, c.part_id, c.source
        FROM unnest(v_queued) AS q(day)
        JOIN cases c ON c.reported_at >= (q.day::timestamp AT TIME ZONE v_tz)
                    AND c.reported_at < ((q.day + 1)::timestamp AT TIME ZONE v_tz)
    )
    SELECT array_agg(DISTINCT d) INTO v_days FROM (
        SELECT unnest(v_queued) AS d
        UNION
        SELECT n.day FROM gridgov_rollup_neighbour_days(
            ARRAY(SELECT reported_at FROM probe), ARRAY(SELECT category_id FROM probe),
            ARRAY(SELECT h3_r10 FROM probe), ARRAY(SELECT part_id FROM probe),
            ARRAY(SELECT source FROM probe)) n
    ) x;
    -- the heat rollups of a day depend on that day's cases only
    DELETE FROM case_daily WHERE day = ANY (v_queued);
    DELETE FROM case_daily_major WHERE day = ANY (v_queued);
    INSERT INTO case_daily (day, street_code, community_id, grid_id, h3_r9, category_id,
                            source, n)
    SELECT q.day, c.street_code, c.community_id, c.grid_id, c.h3_r9, c.category_id,
           c.source, count(*)
    FROM unnest(v_queued) AS q(day)
    JOIN cases c ON c.reported_at >= (q.day::timestamp AT TIME ZONE v_tz)
                AND c.reported_at < ((q.day + 1)::timestamp AT TIME ZONE v_tz)
    GROUP BY 1, 2, 3, 4, 5, 6, 7;
    INSERT INTO case_daily_major (day, community_id, major_id, n)
    SELECT d.day, d.community_id, coalesce(k.parent_id, k.id), sum(d.n)
    FROM case_daily d JOIN categories k ON k.id = d.category_id
    WHERE d.day = ANY (v_queued)
    GROUP BY 1, 2, 3;
    PERFORM gridgov_refresh_case_measures_days(v_days);
    RETURN cardinality(v_days);
END $$;
COMMENT ON FUNCTION gridgov_refresh_dirty_rollups IS 'Rebuild the rollups (case_daily, case_daily_major, case_measures_daily, case_part_daily) of the days queued in rollup_dirty_days and of the cases their cases set flags of; returns the days rebuilt, 0 when none were queued, minus the queued days when more than p_max_days wait.';
"""


def upgrade() -> None:
    op.execute(NEIGHBOURS.format(recurrence=RECURRENCE))
    op.execute(QUEUE)
    op.execute(MEASURES_DAYS)
    op.execute(DIRTY)
    op.execute(f"""
GRANT SELECT ON rollup_dirty_days TO gridgov_leader, gridgov_system;
GRANT EXECUTE ON FUNCTION gridgov_refresh_dirty_rollups(integer) TO {REFRESHERS};
""")


def downgrade() -> None:
    op.execute("""
DROP TRIGGER IF EXISTS case_events_queue_days ON case_events;
DROP TRIGGER IF EXISTS cases_queue_days_delete ON cases;
DROP TRIGGER IF EXISTS cases_queue_days_update ON cases;
DROP TRIGGER IF EXISTS cases_queue_days_insert ON cases;
DROP FUNCTION IF EXISTS gridgov_refresh_dirty_rollups(integer);
DROP FUNCTION IF EXISTS gridgov_queue_event_days();
DROP FUNCTION IF EXISTS gridgov_queue_case_days();
DROP TABLE IF EXISTS rollup_dirty_days;
DROP INDEX IF EXISTS cases_part_closed_idx;
""")
    # back to 0105's refresh (its own body) before its helper goes
    import runpy
    from pathlib import Path

    rollup = runpy.run_path(str(Path(__file__).with_name("0105_leader_rollup.py")))
    op.execute("DROP FUNCTION IF EXISTS gridgov_refresh_case_measures(date)")
    op.execute(rollup["REFRESH"])
    op.execute("""
DROP FUNCTION IF EXISTS gridgov_refresh_case_measures_days(date[]);
DROP FUNCTION IF EXISTS gridgov_rollup_neighbour_days(timestamptz[], integer[], bigint[],
                                                      integer[], text[]);
""")
