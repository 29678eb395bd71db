"""Load the generated demo district into the layers, all in one transaction, by COPY."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis.demo import DemoDistrict
from gis.errors import GridGovError
from layers.auth import demo_users
from layers.basemap import demo_basemap
from layers.bulk import copy_frame, ewkb_hex, point_ewkb
from layers.catalogue import code_ids, load_catalogue
from layers.partitions import ensure_for
from layers.patrols import derive_patrols, latest_patrol_week, refresh_coverage
from layers.rollups import refresh_rollups

DATA_TABLES = [
    "patrols",
    "patrol_points",
    "reporters",
    "case_events",
    "cases",
    "parts",
    "grids",
    "workers",
    "buildings",
    "roads",
    "communities",
    "streets",
]
META_KEY = "demo"


class DemoError(GridGovError, RuntimeError):
    """The demo cannot be loaded here; the message says what to do."""

    code = "demo"
    kind = "bad_input"


@dataclass
class LoadReport:
    """What :func:`load_demo` did."""

    loaded: bool
    message: str
    counts: dict[str, int]


def loaded_demo(conn: Connection) -> dict | None:
    """The demo district's metadata if one is loaded, else None."""
    row = conn.execute(
        sa.text("SELECT value FROM gridgov_meta WHERE key = :k"), {"k": META_KEY}
    ).scalar()
    return dict(row) if row else None


def load_demo(
    conn: Connection,
    district: DemoDistrict,
    *,
    replace: bool = False,
    progress: Callable[[str], None] | None = None,
) -> LoadReport:
    """Write ``district`` into the layers inside the caller's transaction.

    A demo already loaded is kept unless ``replace``; data that is not the
    demo's is never overwritten. Either everything is written or, when the
    caller's transaction rolls back, nothing.
    """
    step = progress or (lambda _msg: None)
    current = loaded_demo(conn)
    if current and not replace:
        return LoadReport(
            False,
            f"The demo district (seed {current['seed']}) is already loaded; "
            "nothing to do (use --replace to load it again).",
            {},
        )
    if not current and conn.execute(sa.text("SELECT EXISTS (SELECT 1 FROM streets)")).scalar():
        raise DemoError(
            "This database already holds districts that are not the demo; load the "
            "demo into an empty database (set DATABASE_URL or GRIDGOV_HOME)."
        )
    # one all-or-nothing bulk transaction: its commit need not wait for the WAL flush
    conn.execute(sa.text("SET LOCAL synchronous_commit = off"))
    conn.execute(sa.text(f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE"))
    conn.execute(sa.text("DELETE FROM departments WHERE kind IN ('street', 'community')"))
    # a partition for every month of the demo's cases, history and fixes (up to today)
    ensure_for(
        conn,
        [*d_times(district), pd.Timestamp.now(tz="UTC")],
    )
    step("catalogue")
    load_catalogue(conn)
    counts: dict[str, int] = {}
    step("areas")
    counts |= _areas(conn, district)
    step("grids and workers")
    counts |= _grids_and_workers(conn, district)
    step("parts")
    counts["parts"] = _parts(conn, district)
    step("cases and their history")
    counts |= _cases(conn, district)
    step("patrols")
    counts |= _patrols(conn, district)
    step("rollups")
    refresh_rollups(conn=conn)
    week = latest_patrol_week(conn=conn)
    if week:
        refresh_coverage(conn=conn, week_start=week[0], week_end=week[1])
    step("case assignments")
    counts["case_assignments"] = _assignments(conn)
    for table in DATA_TABLES:
        conn.execute(
            sa.text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
            )
        )
    conn.execute(
        sa.text("""
        INSERT INTO gridgov_meta (key, value) VALUES (:k, CAST(:v AS jsonb))
        ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()
    """),
        {
            "k": META_KEY,
            "v": json.dumps(
                {"seed": district.seed, "as_of": district.as_of.isoformat(), "counts": counts}
            ),
        },
    )
    step("demo users")  # after the demo marker: demo logins exist only on a demo database
    counts["users"] = len(demo_users(conn=conn))
    step("base map")  # the district's own roads and buildings, drawn as vector tiles
    counts["basemap"] = demo_basemap(conn=conn).stored
    return LoadReport(True, "The demo district is loaded.", counts)


def _assignments(conn: Connection) -> int:
    """One lead assignment per dispatched demo case, from its last dispatch event.

    Without them the demo handler, who acts only on cases assigned to its
    department, was offered actions that all failed.
    """
    return int(
        conn.execute(
            sa.text("""
        INSERT INTO case_assignments (case_id, street_code, department_id, role, rule, reason,
                                      assigned_at, deadline_at, event_id)
        SELECT DISTINCT ON (c.id) c.id, c.street_code, c.department_id, 'lead',
               coalesce(c.dispatch_rule, 'statutory'),
               coalesce(c.dispatch_reason, 'statutory routing (demo)'), e.at, c.deadline_at, e.id
        FROM cases c JOIN case_events e ON e.case_id = c.id AND e.action = 'dispatch'
        WHERE c.department_id IS NOT NULL
        ORDER BY c.id, e.at DESC, e.id DESC
    """)
        ).rowcount
    )


def _ids(n: int) -> np.ndarray:
    return np.arange(1, n + 1)


def _areas(conn: Connection, d: DemoDistrict) -> dict[str, int]:
    copy_frame(
        conn,
        "streets",
        pd.DataFrame(
            {
                "id": [1],
                "code": d.street.code,
                "name_zh": d.street.name_zh,
                "name_en": d.street.name_en,
                "geom": ewkb_hex(_multi(d.street.geometry)),
            }
        ),
    )
    c = d.communities
    copy_frame(
        conn,
        "communities",
        pd.DataFrame(
            {
                "id": _ids(len(c)),
                "code": c.code,
                "street_id": 1,
                "name_zh": c.name_zh,
                "name_en": c.name_en,
                "office": ewkb_hex(c.office),
                "geom": ewkb_hex(_multi(c.geometry)),
            }
        ),
    )
    conn.execute(
        sa.text("""
        INSERT INTO departments (code, kind, name_zh, name_en, street_id, community_id)
        SELECT code, 'street', name_zh || '办事处', name_en || ' Office', id, NULL FROM streets
        UNION ALL
        SELECT code, 'community', name_zh || '居委会', name_en || ' Committee', street_id, id
        FROM communities
    """)
    )
    copy_frame(
        conn,
        "roads",
        pd.DataFrame(
            {
                "id": _ids(len(d.roads)),
                "street_id": 1,
                "name_zh": d.roads.name_zh,
                "name_en": d.roads.name_en,
                "road_class": d.roads.road_class,
                "geom": ewkb_hex(d.roads.geometry),
            }
        ),
    )
    b = d.buildings
    community_id = pd.Series(_ids(len(c)), index=c.code)
    copy_frame(
        conn,
        "buildings",
        pd.DataFrame(
            {
                "id": b.building_id,
                "community_id": community_id.reindex(b.community_code).to_numpy(),
                "households": b.households,
                "floors": b.floors,
                "source": "demo",
                "source_id": b.building_id.astype(str),
                "geom": point_ewkb(b.lon, b.lat),
                "footprint": ewkb_hex(_multi(b.footprint)),
            }
        ),
    )
    return {"streets": 1, "communities": len(c), "roads": len(d.roads), "buildings": len(b)}


def _grids_and_workers(conn: Connection, d: DemoDistrict) -> dict[str, int]:
    communities = code_ids(conn, "communities", "code")
    w = d.workers
    copy_frame(
        conn,
        "workers",
        pd.DataFrame(
            {
                "id": _ids(len(w)),
                "code": w.code,
                "name_zh": w.name_zh,
                "phone": w.phone,
                "community_id": w.community_code.map(communities),
                "hired_on": (d.as_of - pd.Timedelta(days=900)).date(),
            }
        ),
    )
    g = d.grids
    worker_id = pd.Series(_ids(len(w)), index=w.code)
    copy_frame(
        conn,
        "grids",
        pd.DataFrame(
            {
                "id": _ids(len(g)),
                "code": g.code,
                "community_id": g.community_code.map(communities),
                "households": g.households,
                "worker_id": worker_id.reindex(g.worker_code).to_numpy(),
                "version": 1,
                "valid_from": (d.as_of - pd.Timedelta(days=400)).date(),
                "geom": ewkb_hex(_multi(g.geometry)),
            }
        ),
    )
    return {"workers": len(w), "grids": len(g)}


def _parts(conn: Connection, d: DemoDistrict) -> int:
    categories = code_ids(conn, "categories", "service_code")
    grids = code_ids(conn, "grids", "code")
    communities = code_ids(conn, "communities", "code")
    p = d.parts
    owner = conn.execute(
        sa.text("SELECT service_code, default_department_id FROM categories")
    ).all()
    owner_of = {code: dept for code, dept in owner}
    return copy_frame(
        conn,
        "parts",
        pd.DataFrame(
            {
                "id": _ids(len(p)),
                "part_code": p.part_code,
                "category_id": p.service_code.map(categories),
                "owner_department_id": p.service_code.map(owner_of).astype("Int64"),
                "maintainer": "demo maintenance unit",
                "status": p.status,
                "survey_date": p.survey_date.dt.date,
                "community_id": p.community_code.map(communities),
                "grid_id": p.grid_code.map(grids).astype("Int64"),
                "source": "demo",
                "source_id": p.part_code,
                "geom": point_ewkb(p.lon, p.lat),
            }
        ),
    )


def d_times(d: DemoDistrict) -> list[pd.Timestamp]:
    """The first and last time of the demo's cases and patrol fixes (for their partitions)."""
    times = [d.cases["reported_at"], d.patrol_points["at"]]
    return [t for col in times if len(col) for t in (col.min(), col.max())]


def _cases(conn: Connection, d: DemoDistrict) -> dict[str, int]:
    categories = code_ids(conn, "categories", "service_code")
    grids = code_ids(conn, "grids", "code")
    communities = code_ids(conn, "communities", "code")
    departments = code_ids(conn, "departments", "code")
    parts = code_ids(conn, "parts", "part_code")
    c = d.cases
    ids = _ids(len(c))
    media = np.where(
        c.source.isin(["patrol", "app"]),
        '[{"type": "photo", "name": "' + c.case_no + '-1.jpg"}]',
        "[]",
    )
    frame = pd.DataFrame(
        {
            "id": ids,
            "case_no": c.case_no,
            "category_id": c.service_code.map(categories),
            "street_code": d.street.code.iloc[0],
            "community_id": c.community_code.map(communities),
            "grid_id": c.grid_code.map(grids).astype("Int64"),
            **{f"h3_r{r}": c[f"h3_r{r}"] for r in (7, 8, 9, 10)},
            "source": c.source,
            "description": c.description,
            "media": media,
            "status": c.status,
            "urgency": c.urgency,
            "reported_at": c.reported_at,
            "accepted_at": c.accepted_at,
            "registered_at": c.registered_at,
            "dispatched_at": c.dispatched_at,
            "deadline_at": c.deadline_at,
            "handled_at": c.handled_at,
            "closed_at": c.closed_at,
            "department_id": c.department_code.map(departments).astype("Int64"),
            "part_id": c.part_code.map(parts).astype("Int64"),
            "rework_count": c.rework_count,
            "reopen_count": c.reopen_count,
            "satisfaction": c.satisfaction.where(c.satisfaction > 0).astype("Int64"),
            "version": 1,
            "source_system": "demo",
            "source_id": c.case_no,
            "geom": point_ewkb(c.lon, c.lat),
        }
    )
    copy_frame(conn, "cases", frame)
    e = d.case_events
    copy_frame(
        conn,
        "case_events",
        pd.DataFrame(
            {
                "id": _ids(len(e)),
                "case_id": ids[e.case_idx],
                "street_code": d.street.code.iloc[0],
                "at": e["at"],
                "actor": e.actor,
                "role": e.role,
                "action": e.action,
                "from_status": e.from_status,
                "to_status": e.to_status,
                "reason": e.reason,
            }
        ),
    )
    r = d.reporters
    copy_frame(
        conn,
        "reporters",
        pd.DataFrame(
            {
                "id": _ids(len(r)),
                "case_id": ids[r.case_idx],
                "name": r.name,
                "phone": r.phone,
                "channel": r.channel,
                "created_at": r.created_at,
            }
        ),
    )
    return {"cases": len(c), "case_events": len(e), "reporters": len(r)}


def _patrols(conn: Connection, d: DemoDistrict) -> dict[str, int]:
    workers = code_ids(conn, "workers", "code")
    p = d.patrol_points
    copy_frame(
        conn,
        "patrol_points",
        pd.DataFrame(
            {
                "id": _ids(len(p)),
                "worker_id": p.worker_code.map(workers),
                "street_code": d.street.code.iloc[0],
                "at": p["at"],
                "accuracy_m": 5.0,
                "geom": point_ewkb(p.lon, p.lat),
            }
        ),
    )
    n = derive_patrols(conn)
    return {"patrol_points": len(p), "patrols": n}


def _multi(geoms: pd.Series) -> np.ndarray:
    """Polygons as MultiPolygons (the layers' single geometry type).

    Collections left by overlay operations keep only their polygonal parts.
    """
    return np.array(
        [
            shapely.MultiPolygon([p for p in shapely.get_parts(g) if p.geom_type == "Polygon"])
            if g.geom_type != "MultiPolygon"
            else g
            for g in np.asarray(geoms, dtype=object)
        ],
        dtype=object,
    )
