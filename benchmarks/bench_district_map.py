"""District map for a whole city: today's counts-per-community map vs drawing every feature.

A synthetic city (one district, ``--streets`` streets, 25 communities each, 100 grids per
community and ``--parts`` parts) is written straight into a benchmark database; then, in
the same run and the same process, the district page's server work is timed both ways:

- **baseline** (the method before issue 14): communities, *every* current grid and the
  first 20,000 parts (the old hidden cap) read from PostGIS and drawn as GeoJSON features
  in folium (the page's default layers: communities, grids; parts when asked), the map
  rendered to HTML;
- **now**: ``services.district.district_map`` — true counts in SQL, and past 3,000
  features a layer drawn as counts per community (``dashboard.area_counts``) — the same
  layers drawn and rendered.

It prints seconds, HTML megabytes and the ratio, with the load average (``uptime``).
Open cases are the same in both methods (the 1,500 most urgent) and left out here.

Run: ``uv run python benchmarks/bench_district_map.py [--streets 10] [--parts 23237]``
(10 streets = 250 communities, 25,000 grids: a megacity's grid count).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import datetime
from functools import partial
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dashboard import maps  # noqa: E402
from dashboard.area_counts import add_area_counts  # noqa: E402
from layers import areas, grids, migrate, parts  # noqa: E402
from layers.catalogue import load_catalogue  # noqa: E402
from layers.db import database_url  # noqa: E402
from services.district import district_map  # noqa: E402

DB = "gridgov_bench_district_map"
CITY = """
INSERT INTO districts (code, name_zh, name_en, geom)
VALUES ('999901', '基准区', 'Bench district',
        ST_Multi(ST_MakeEnvelope(0, 0, :streets * 0.05, 0.05, 4326)));
INSERT INTO streets (code, name_zh, name_en, geom)
SELECT '999901' || lpad(s::text, 3, '0'), '街道' || s, 'Street ' || s,
       ST_Multi(ST_MakeEnvelope((s - 1) * 0.05, 0, s * 0.05, 0.05, 4326))
FROM generate_series(1, :streets) s;
INSERT INTO communities (code, street_id, name_zh, name_en, office, geom)
SELECT st.code || lpad((i * 5 + j + 1)::text, 3, '0'), st.id, '社区' || st.code || i || j,
       'Community ' || st.code || '-' || i || j,
       ST_PointOnSurface(ST_MakeEnvelope(x0 + i * 0.01, j * 0.01, x0 + (i + 1) * 0.01,
                                         (j + 1) * 0.01, 4326)),
       ST_Multi(ST_MakeEnvelope(x0 + i * 0.01, j * 0.01, x0 + (i + 1) * 0.01, (j + 1) * 0.01,
                                4326))
FROM (SELECT id, code, (right(code, 3)::int - 1) * 0.05 AS x0 FROM streets) st,
     generate_series(0, 4) i, generate_series(0, 4) j;
INSERT INTO grids (code, community_id, households, valid_from, geom)
SELECT c.code || lpad((a * 10 + b + 1)::text, 3, '0'), c.id, 300 + (a * 10 + b) % 200,
       DATE '2026-01-01',
       ST_Multi(ST_MakeEnvelope(ST_XMin(c.geom) + a * 0.001, ST_YMin(c.geom) + b * 0.001,
                                ST_XMin(c.geom) + (a + 1) * 0.001,
                                ST_YMin(c.geom) + (b + 1) * 0.001, 4326))
FROM communities c, generate_series(0, 9) a, generate_series(0, 9) b;
INSERT INTO parts (part_code, category_id, community_id, source, source_id, geom)
SELECT '999901' || '0101' || lpad(n::text, 6, '0'), k.id,
       (SELECT c.id FROM communities c WHERE ST_Intersects(c.geom, p.g) LIMIT 1),
       'bench', n::text, p.g
FROM (SELECT n, ST_SetSRID(ST_MakePoint(random() * :streets * 0.05 * 0.9999,
                                        random() * 0.05 * 0.9999), 4326) AS g
      FROM generate_series(1, :parts) n) p,
     (SELECT id FROM categories WHERE parent_id IS NOT NULL ORDER BY service_code LIMIT 1) k;
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streets", type=int, default=10)
    parser.add_argument("--parts", type=int, default=23_237)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    engine = fresh_database(args.streets, args.parts)
    now = datetime(2026, 12, 2, 12)
    try:
        with engine.connect() as conn:
            n_grids = conn.execute(sa.text("SELECT count(*) FROM grids")).scalar_one()
            n_parts = conn.execute(sa.text("SELECT count(*) FROM parts")).scalar_one()
        print(
            f"city: {args.streets} streets, {args.streets * 25} communities, "
            f"{n_grids:,} grids, {n_parts:,} parts"
        )
        for with_parts in (False, True):
            base = best(partial(baseline, engine, with_parts), args.repeat)
            new = best(partial(current, engine, now, with_parts), args.repeat)
            layers = "communities + grids" + (" + parts" if with_parts else "")
            print(f"\n{layers}:")
            print(
                f"  baseline (every feature): {base[0]:7.2f} s  {base[1] / 1e6:7.2f} MB HTML"
                f"  (parts drawn {base[2]:,})"
            )
            print(
                f"  now (counts per community): {new[0]:5.2f} s  {new[1] / 1e6:7.2f} MB HTML"
                f"  (counts shown: grids {new[2][0]:,}, parts {new[2][1]:,})"
            )
            print(
                f"  ratio baseline/now: time {base[0] / new[0]:.1f}x, "
                f"HTML {base[1] / max(new[1], 1):.1f}x"
            )
        print("\nload:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    finally:
        engine.dispose()


def best(run, repeat: int):  # type: ignore[no-untyped-def]
    """The fastest of ``repeat`` runs: (seconds, html bytes, extra)."""
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        size, extra = run()
        took = time.perf_counter() - t0
        if out is None or took < out[0]:
            out = (took, size, extra)
    assert out is not None
    return out


def baseline(engine: sa.Engine, with_parts: bool) -> tuple[int, int]:
    """The district page before issue 14: every grid, the first 20,000 parts, as features."""
    with engine.connect() as conn:
        extent = areas.extent(conn=conn)
        communities = areas.communities(conn=conn)
        current_grids = grids.current_grids(conn=conn)
        drawn_parts = parts.parts(conn=conn, limit=20_000)
    m = maps.new_map(extent, "none")
    maps.add_communities(m, communities, "zh")
    maps.add_grids(m, current_grids, "zh")
    if with_parts:
        maps.add_parts(m, drawn_parts, "zh")
    return len(maps.finish(m).get_root().render()), len(drawn_parts)


def current(engine: sa.Engine, now: datetime, with_parts: bool):  # type: ignore[no-untyped-def]
    """The district page now: true counts, counts per community past the feature limit."""
    data = district_map(engine, now=now)
    m = maps.new_map(data.extent, "none")
    maps.add_communities(m, data.communities, "zh")
    for layer, add, wanted in (
        ("grids", maps.add_grids, True),
        ("parts", maps.add_parts, with_parts),
    ):
        if not wanted:
            continue
        if layer in data.aggregated:
            add_area_counts(m, data.communities, "zh", layer)
        else:
            add(m, getattr(data, layer), "zh")
    assert data.counts is not None
    return len(maps.finish(m).get_root().render()), (data.counts.grids, data.counts.parts)


def fresh_database(streets: int, n_parts: int) -> sa.Engine:
    url = sa.make_url(os.environ.get("DATABASE_URL") or database_url())
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{DB}"'))
    admin.dispose()
    engine = sa.create_engine(url.set(database=DB))
    migrate.upgrade(engine)
    with engine.begin() as conn:
        load_catalogue(conn)
        for statement in CITY.split(";\n"):
            if statement.strip():
                conn.execute(sa.text(statement), {"streets": streets, "parts": n_parts})
        conn.execute(sa.text("ANALYZE"))
    return engine


if __name__ == "__main__":
    main()
