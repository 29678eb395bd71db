"""Issue 14: the dashboard works for a whole city.

- an area picker at every level (district → street → community) for roles that see several;
- true counts, and counts per community instead of every feature past the feature limit;
- pages that say what data they need (and which command loads it) when it is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from streamlit.testing.v1 import AppTest

from layers import migrate
from layers.auth import add_user
from layers.catalogue import load_catalogue
from layers.ingest import load_boundaries, mapping_from_dict
from services.district import district_map
from services.supervisor import narrow_coverage, supervisor_coverage
from tests.conftest import app_login_engine, recreate_database

APP = Path(__file__).resolve().parents[2] / "app.py"
PASSWORD = "city-leader-password"
# two districts; Old Town has two streets (North with two communities, South with one)
ROWS = {
    "name": ["Alpha", "Beta", "Gamma", "Delta"],
    "street": ["North", "North", "South", "East"],
    "district": ["Old Town", "Old Town", "Old Town", "New Town"],
}


@pytest.fixture(scope="module")
def city_engine(tmp_path_factory) -> Iterator[Engine]:
    """A city onboarded from one community file with street and district columns: no grids,
    no patrols, one leader login."""
    eng = recreate_database("gridgov_test_city")
    migrate.upgrade(eng)
    path = tmp_path_factory.mktemp("city") / "communities.geojson"
    gpd.GeoDataFrame(
        ROWS,
        geometry=[shapely.box(10 + i * 0.01, 50, 10.01 + i * 0.01, 50.01) for i in range(4)],
        crs=4326,
    ).to_file(path)
    with eng.begin() as conn:
        load_catalogue(conn)
        conn.execute(
            sa.text("""INSERT INTO city (id, name, name_en, timezone, admin_code)
                       VALUES (1, '测试市', 'Test City', 'UTC', '999900')""")
        )
    mapping = mapping_from_dict(
        {
            "layer": "boundaries",
            "source": "city",
            "columns": {"name": "name", "street": "street", "district": "district"},
        }
    )
    with eng.connect() as conn:
        load_boundaries(path, mapping, conn=conn)
    with eng.begin() as conn:
        add_user(conn=conn, username="cityleader", password=PASSWORD, role="leader")
    yield eng
    eng.dispose()


@pytest.fixture
def city_app(city_engine, monkeypatch) -> AppTest:
    app_engine = app_login_engine(city_engine)
    monkeypatch.setenv("DATABASE_URL", app_engine.url.render_as_string(hide_password=False))
    app_engine.dispose()
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    at.text_input(key="login_username").input("cityleader")
    at.text_input(key="login_password").input(PASSWORD)
    at.button[0].click().run()
    assert not at.exception
    return at


def test_area_picker_at_every_level(city_app):
    at = city_app
    district = at.sidebar.selectbox(key="area_district")
    # districts derived from the city's code 999900: New Town 999901, Old Town 999902
    assert district.options == ["全部区县", "New Town", "Old Town"]
    assert {m.label: m.value for m in at.metric}["社区"] == "4"
    district.set_value("999902").run()
    assert not at.exception
    assert at.session_state["area"] == "999902"
    assert {m.label: m.value for m in at.metric}["社区"] == "3"
    street = at.sidebar.selectbox(key="area_street")
    assert street.options == ["全部街道", "North", "South"]
    street.set_value("999902001").run()
    assert at.session_state["area"] == "999902001"
    assert {m.label: m.value for m in at.metric}["社区"] == "2"
    area = at.sidebar.selectbox(key="area")
    assert area.options == ["全市", "全区 · Old Town", "全街道 · North", "Alpha", "Beta"]
    area.set_value("999902001002").run()
    assert {m.label: m.value for m in at.metric}["社区"] == "1"
    # the choice holds on the next page
    at.switch_page("app_pages/supervisor.py").run()
    assert not at.exception
    assert at.session_state["area"] == "999902001002"


def test_pages_say_which_command_loads_what_is_missing(city_app):
    at = city_app
    assert any("gridgov grids delineate" in i.value for i in at.info)  # the map: no grids
    at.switch_page("app_pages/supervisor.py").run()
    assert not at.exception
    assert any("gridgov grids delineate" in i.value for i in at.info)


def test_whole_city_map_counts_true_and_draws_per_community(demo_engine, small_district):
    now = datetime(2030, 1, 1)
    with demo_engine.connect() as conn:
        parts_total = conn.execute(sa.text("SELECT count(*) FROM parts")).scalar_one()
    drawn = district_map(demo_engine, now=now)
    assert drawn.counts.parts == parts_total and len(drawn.parts) == parts_total
    assert drawn.counts.grids == len(small_district.grids) and not drawn.aggregated
    # past the limit: counts per community, every count still the true one
    big = district_map(demo_engine, now=now, feature_limit=10)
    assert big.aggregated == {"grids", "parts"}
    assert big.grids.empty and big.parts.empty
    assert big.counts == drawn.counts
    assert big.communities.grids.sum() == len(small_district.grids)
    assert big.communities.parts.sum() <= parts_total
    assert big.communities.open_cases.sum() <= big.open_case_total
    assert big.communities.overdue.sum() == big.counts.overdue  # every open case has a place


def test_supervisor_without_patrols_keeps_the_grids_narrowed(city_engine, demo_engine):
    data = supervisor_coverage(demo_engine)
    one = data.grids.community_code.iloc[0]
    no_patrols = type(data)(data.extent, None, data.grids, data.tracks, data.workload)
    narrowed = narrow_coverage(no_patrols, one)
    assert len(narrowed.grids) == (data.grids.community_code == one).sum()
    street = one[:9]
    assert len(narrow_coverage(no_patrols, street).grids) == len(data.grids)
