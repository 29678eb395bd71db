"""``GET /tiles/{layer}/{z}/{x}/{y}.pbf`` over real HTTP on the demo district, as the app's
own (non-superuser) login: the token's scope and row-level security decide every tile."""

from __future__ import annotations

import time

import httpx
import pytest
import sqlalchemy as sa

from api import create_app
from api.limits import RateLimits
from services.tiles import Scope, tile_access
from tests.api.server import serving
from tests.layers.mvt import decode, tile_of, to_lonlat

POINT_LAYERS = {"cases": "case", "parts": "part"}


@pytest.fixture(scope="module")
def tiles_api(demo_app_url):
    engine = sa.create_engine(demo_app_url)
    app = create_app(engine, limits=RateLimits(per_address=None, per_key=None))
    with serving(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client
    engine.dispose()


@pytest.fixture(scope="module")
def community(demo_engine) -> dict:
    """The demo supervisor's community: code, id, bounds and the other communities' count."""
    with demo_engine.connect() as conn:
        code, cid, minx, miny, maxx, maxy = conn.execute(
            sa.text("""
            SELECT m.code, m.id, ST_XMin(m.geom), ST_YMin(m.geom), ST_XMax(m.geom),
                   ST_YMax(m.geom)
            FROM app_users u JOIN communities m ON m.code = u.area
            WHERE u.username = 'supervisor'""")
        ).one()
    return {"code": code, "id": cid, "bounds": (minx, miny, maxx, maxy)}


def _token(role: str, username: str, area: str | None = None) -> str:
    return tile_access(Scope(role, area=area, username=username)).token


def _tiles_over(bounds, z: int):  # type: ignore[no-untyped-def]
    minx, miny, maxx, maxy = bounds
    x0, y1 = tile_of(minx, miny, z)
    x1, y0 = tile_of(maxx, maxy, z)
    # one ring of tiles beyond the bounds: a feature outside would be found there
    return [(x, y) for x in range(x0 - 1, x1 + 2) for y in range(y0 - 1, y1 + 2)]


def _fetch(client, layer: str, z: int, x: int, y: int, token: str, **query):  # type: ignore[no-untyped-def]
    answer = client.get(f"/tiles/{layer}/{z}/{x}/{y}.pbf", params={"token": token, **query})
    assert answer.status_code == 200, answer.text
    return decode(answer.content).get(layer)


def test_a_community_supervisors_tiles_hold_no_feature_outside_the_community(
    tiles_api, community, demo_engine
):
    token = _token("supervisor", "supervisor", community["code"])
    operator = _token("operator", "operator")
    seen: dict[str, set[str]] = {}
    points: list[tuple[float, float]] = []
    outside_for_operator = 0
    z = 16
    for x, y in _tiles_over(community["bounds"], z):
        for layer in ("cases", "parts", "grids", "communities"):
            found = _fetch(tiles_api, layer, z, x, y, token, status="all")
            for f in found.features if found else []:
                ref = f.properties.get("feature_id") or f"{POINT_LAYERS[layer]}:{f.id}"
                seen.setdefault(layer, set()).add(ref)
                if layer in POINT_LAYERS:
                    assert "count" not in f.properties  # z16: every point by itself
                    points += [to_lonlat(z, x, y, px, py) for px, py in f.points]
        if x % 2 == 0:  # the same tiles as an operator: features outside are there to find
            wide = _fetch(tiles_api, "cases", z, x, y, operator, status="all")
            outside_for_operator += len(wide.features) if wide else 0
    assert seen.keys() == {"cases", "parts", "grids", "communities"}
    with demo_engine.connect() as conn:
        for layer, kind in {**POINT_LAYERS, "grids": "grid"}.items():
            ids = [int(ref.split(":")[1]) for ref in seen[layer]]
            assert all(ref.startswith(f"{kind}:") for ref in seen[layer])
            others = conn.execute(
                sa.text(f"""SELECT count(*) FROM {layer}
                    WHERE id = ANY (:ids) AND community_id IS DISTINCT FROM :cid"""),
                {"ids": ids, "cid": community["id"]},
            ).scalar()
            assert others == 0, f"{layer}: {others} features of another community"
        assert seen["communities"] == {f"community:{community['code']}"}
        # every point drawn lies in the community (within a tile unit's rounding, ~2 m)
        far = conn.execute(
            sa.text("""
            SELECT count(*) FROM unnest(CAST(:xs AS float8[]), CAST(:ys AS float8[])) p(x, y),
                 communities m
            WHERE m.id = :cid AND NOT ST_DWithin(m.geom::geography,
                                                 ST_SetSRID(ST_Point(p.x, p.y), 4326), 3)"""),
            {"xs": [p[0] for p in points], "ys": [p[1] for p in points], "cid": community["id"]},
        ).scalar()
        assert points and far == 0
        total_outside = conn.execute(
            sa.text("SELECT count(*) FROM cases WHERE community_id IS DISTINCT FROM :cid"),
            {"cid": community["id"]},
        ).scalar()
    assert total_outside > 0 and outside_for_operator > 0


def test_aggregated_low_zoom_tiles_count_only_the_communitys_cases(
    tiles_api, community, demo_engine
):
    token = _token("supervisor", "supervisor", community["code"])
    z = 11
    total = 0
    for x, y in _tiles_over(community["bounds"], z):
        found = _fetch(tiles_api, "cases", z, x, y, token, status="all")
        total += sum(f.properties["count"] for f in found.features) if found else 0
    with demo_engine.connect() as conn:
        mine = conn.execute(
            sa.text("SELECT count(*) FROM cases WHERE community_id = :cid"),
            {"cid": community["id"]},
        ).scalar()
    assert total == mine > 0


def test_no_forged_or_expired_token_gets_a_tile(tiles_api):
    good = _token("operator", "operator")
    body, _, mac = good.partition(".")
    for bad, why in [
        (None, "missing"),
        (f"{body}.{mac[:-2]}xx", "not signed"),
        (f"{body}.{mac[:-1]}é", "not signed"),  # non-ASCII: compare_digest's TypeError was a 500
        ("é.é", "not signed"),
        (tile_access(Scope("operator", username="operator"), now=time.time() - 3600).token,
         "expired"),
    ]:  # fmt: skip
        params = {"token": bad} if bad else {}
        answer = tiles_api.get("/tiles/cases/14/0/0.pbf", params=params)
        assert answer.status_code == 401 and why in answer.text


def test_a_token_for_a_role_the_user_does_not_hold_is_refused(tiles_api, community):
    # signed, but the database checks the user's row: "supervisor" is no operator
    answer = tiles_api.get(
        "/tiles/cases/14/0/0.pbf", params={"token": _token("operator", "supervisor")}
    )
    assert answer.status_code == 403


def test_caching_is_private_short_and_revalidates_by_etag(tiles_api, community):
    token = _token("operator", "operator")
    minx, miny, maxx, maxy = community["bounds"]
    x, y = tile_of((minx + maxx) / 2, (miny + maxy) / 2, 14)
    url = f"/tiles/cases/14/{x}/{y}.pbf"
    first = tiles_api.get(
        url, params={"token": token, "status": "all"}, headers={"Origin": "http://127.0.0.1:8501"}
    )
    assert first.status_code == 200 and first.content
    assert first.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert first.headers["cache-control"] == "private, max-age=30"
    assert first.headers["access-control-allow-origin"] == "http://127.0.0.1:8501"
    again = tiles_api.get(
        url,
        params={"token": token, "status": "all"},
        headers={"If-None-Match": first.headers["etag"]},
    )
    assert again.status_code == 304 and not again.content
    elsewhere = tiles_api.get(
        url, params={"token": token}, headers={"Origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in elsewhere.headers


@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("/tiles/roads/14/0/0.pbf", {}, "layer"),
        ("/tiles/cases/14/99999/0.pbf", {}, "x, y"),
        ("/tiles/cases/14/0/0.pbf", {"status": "lost"}, "status"),
        ("/tiles/cases/14/0/0.pbf", {"since": "2026-12-01", "until": "2026-11-01"}, "until"),
        ("/tiles/cases/14/0/0.pbf", {"since": "yesterday"}, "since"),
        # one without an offset (the city's time), one with: compared, not a TypeError (500)
        (
            "/tiles/cases/14/0/0.pbf",
            {"since": "2026-12-02T00:00", "until": "2026-12-01T00:00Z"},
            "until",
        ),
        ("/tiles/cases/14/0/0.pbf", {"v": "<b>"}, "v"),
    ],
)
def test_a_bad_request_names_the_field(tiles_api, path, query, field):
    answer = tiles_api.get(path, params={"token": _token("operator", "operator"), **query})
    assert answer.status_code == 400 and field in answer.text


def test_an_area_narrows_the_tiles_inside_the_tokens_own_area_only(tiles_api, community):
    code = community["code"]
    minx, miny, maxx, maxy = community["bounds"]
    x, y = tile_of((minx + maxx) / 2, (miny + maxy) / 2, 14)
    url = f"/tiles/communities,cases/14/{x}/{y}.pbf"
    supervisor = _token("supervisor", "supervisor", code)
    operator = _token("operator", "operator")
    # an operator narrows to the supervisor's community: only that community is drawn
    narrowed = tiles_api.get(url, params={"token": operator, "area": code})
    assert narrowed.status_code == 200
    drawn = decode(narrowed.content)["communities"].features
    assert {f.properties["code"] for f in drawn} == {code}
    # the supervisor: its own community (or nothing) answers; another area or a wider
    # one (its street) is refused, and says why in both languages
    assert tiles_api.get(url, params={"token": supervisor, "area": code}).status_code == 200
    for other in (code[:9], "9" * 12, code[:-1] + str((int(code[-1]) + 1) % 10)):
        answer = tiles_api.get(url, params={"token": supervisor, "area": other})
        assert answer.status_code == 403, answer.text
        assert "不在您的辖区" in answer.text and "not inside your own area" in answer.text
    bad = tiles_api.get(url, params={"token": operator, "area": "12ab"})
    assert bad.status_code == 400 and "area" in bad.text
