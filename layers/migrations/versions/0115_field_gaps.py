"""Field reports keep the part picked and the position's accuracy; OsmAnd refusals counted.

- ``cases.location_accuracy_m`` (nullable): how good the reported position was, in metres
  (the phone's GPS accuracy; NULL when unknown or tapped on the map) — shown wherever the
  position is shown, so that an operator and a checker know how far to trust it.
- ``field_report_details(case, part, accuracy)``: sets ``cases.part_id`` and the accuracy
  of a case the acting user has just reported (still version 1, its ``report`` history row
  by this actor). Only for a part-fault category (``kind = 'part'``); the part must exist
  and stand within 300 m of the reported position; else GG010 naming ``payload.part_id``.
- ``osmand_refusals``: every refused OsmAnd fix (unknown id, missing or wrong key, bad
  parameters) with its reason code and when — counted, never silently dropped. Written by
  the app login (no one is in scope for a tracker without a valid key); the tracker's id is
  kept only as a SHA-256 prefix.

Revision ID: 0115_field_gaps
Revises: 0110_tiles_speed
Create Date: 2026-12-02
"""

from alembic import op

revision = "0115_field_gaps"
down_revision = "0110_tiles_speed"
branch_labels = None
depends_on = None

FIELD_ROLES = "gridgov_grid_worker, gridgov_handler, gridgov_supervisor"
PART_RADIUS_M = 300


def upgrade() -> None:
    op.execute(f"""
ALTER TABLE cases ADD COLUMN location_accuracy_m real
    CHECK (location_accuracy_m IS NULL OR location_accuracy_m BETWEEN 0 AND 100000);
COMMENT ON COLUMN cases.location_accuracy_m IS 'Accuracy of the reported position in metres (the phone GPS; NULL: unknown or picked on the map).';

CREATE FUNCTION field_report_details(p_case_id bigint, p_part_id integer, p_accuracy_m real)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    v_actor text := (gridgov_entry()).actor;
    v_case record;
    v_part record;
BEGIN
    SELECT c.id, c.version, c.geom, k.kind INTO v_case
    FROM cases c JOIN categories k ON k.id = c.category_id
    WHERE c.id = p_case_id;
    IF v_case.id IS NULL OR v_case.version <> 1 OR NOT EXISTS (
        SELECT 1 FROM case_events e
        WHERE e.case_id = p_case_id AND e.action = 'report' AND e.actor = v_actor
    ) THEN
        RAISE EXCEPTION 'case %: details are set only by its reporter, right after the report',
            p_case_id USING ERRCODE = 'GG010';
    END IF;
    IF p_accuracy_m IS NOT NULL AND NOT (p_accuracy_m BETWEEN 0 AND 100000) THEN
        RAISE EXCEPTION 'payload.accuracy_m: % is not within 0…100000 m', p_accuracy_m
            USING ERRCODE = 'GG010';
    END IF;
    IF p_part_id IS NOT NULL THEN
        IF v_case.kind <> 'part' THEN
            RAISE EXCEPTION 'payload.part_id: a part is picked only for a part fault (部件), '
                'not for this event category' USING ERRCODE = 'GG010';
        END IF;
        SELECT p.id, p.geom INTO v_part FROM parts p WHERE p.id = p_part_id;
        IF v_part.id IS NULL THEN
            RAISE EXCEPTION 'payload.part_id: no part %', p_part_id USING ERRCODE = 'GG010';
        END IF;
        IF NOT ST_DWithin(v_part.geom::geography, v_case.geom::geography, {PART_RADIUS_M}) THEN
            RAISE EXCEPTION 'payload.part_id: part % is more than {PART_RADIUS_M} m from the '
                'reported position', p_part_id USING ERRCODE = 'GG010';
        END IF;
    END IF;
    UPDATE cases SET part_id = p_part_id, location_accuracy_m = p_accuracy_m
    WHERE id = p_case_id;
END $$;
REVOKE ALL ON FUNCTION field_report_details FROM PUBLIC;
GRANT EXECUTE ON FUNCTION field_report_details TO {FIELD_ROLES};
COMMENT ON FUNCTION field_report_details IS 'A field report''s part (part faults, within {PART_RADIUS_M} m) and GPS accuracy, set by its reporter right after the report.';

CREATE TABLE osmand_refusals (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    reason      text NOT NULL CHECK (reason ~ '^[a-z_]{{1,40}}$'),
    tracker     char(12) CHECK (tracker ~ '^[0-9a-f]{{12}}$')
);
CREATE INDEX osmand_refusals_at_idx ON osmand_refusals (at);
REVOKE ALL ON osmand_refusals FROM PUBLIC;
GRANT INSERT, SELECT ON osmand_refusals TO gridgov_app;
COMMENT ON TABLE osmand_refusals IS 'OsmAnd fixes refused (unknown id, missing or wrong key, bad parameters): counted; the id kept as a SHA-256 prefix.';
""")


def downgrade() -> None:
    op.execute("""
DROP TABLE IF EXISTS osmand_refusals;
DROP FUNCTION IF EXISTS field_report_details(bigint, integer, real);
ALTER TABLE cases DROP COLUMN IF EXISTS location_accuracy_m;
""")
