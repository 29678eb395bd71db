"""`gridgov analyse hotspots|emerging --scheduler tcp://…` on a real multi-process Dask
cluster (`dask scheduler` + two `dask worker` processes) writes the rows of the
single-process path, bit for bit; an unreachable scheduler writes nothing."""

from __future__ import annotations

import importlib
from functools import partial

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cli import app
from gis.emerging import emerging_hotspots
from gis.hotspots import global_moments, h3_weights
from gis.hotspots_dask import emerging_in_parts, frame_counts
from tests.gis.test_hotspots_dask import boundary_field

runner = CliRunner()
LAYERS = {
    "hotspot_cells": "cell, n, z, p, bin, window_start, window_end, ST_AsText(geom) AS wkt",
    "emerging_cells": "cell, category, trend_z, trend_p, hot_share, final_bin, window_end",
}


@pytest.fixture(scope="module", autouse=True)
def warm_workers(dask_cluster):  # type: ignore[no-untyped-def]
    """Import the parts' modules on both workers once (20-40 s on a loaded machine), so
    that the tests time the work, not the first imports."""
    from distributed import Client

    with Client(dask_cluster, timeout=30) as client:
        client.run(importlib.import_module, "layers.hotspots_dask")


def _rows(engine, layer: str, resolution: int) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return pd.read_sql(
            sa.text(f"SELECT {LAYERS[layer]} FROM {layer} WHERE resolution = :r ORDER BY cell"),
            conn,
            params={"r": resolution},
        )


def _analyse(url: str, *args: str, code: int = 0):  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["analyse", *args], env={"DATABASE_URL": url})
    assert result.exit_code == code, result.output
    return " ".join(result.output.split())  # rich wraps lines


@pytest.fixture
def keep_layers(demo_engine):  # type: ignore[no-untyped-def]
    """The demo database is shared by the session: put both layers back as they were."""
    with demo_engine.connect() as conn:
        before = {t: pd.read_sql(sa.text(f"SELECT * FROM {t}"), conn) for t in LAYERS}
    yield
    with demo_engine.begin() as conn:
        for table, rows in before.items():
            conn.execute(sa.text(f"DELETE FROM {table}"))
            if len(rows):
                cols = ", ".join(rows.columns)
                values = ", ".join(":" + c for c in rows.columns)
                conn.execute(
                    sa.text(f"INSERT INTO {table} ({cols}) VALUES ({values})"),
                    rows.to_dict("records"),
                )


def _forget(engine, layer: str) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        conn.execute(sa.text(f"DELETE FROM {layer}"))


@pytest.mark.usefixtures("keep_layers")
@pytest.mark.parametrize("resolution", [9, 8])
def test_hotspots_on_a_dask_cluster_equal_the_single_process_rows(
    dask_cluster,
    demo_url,
    demo_engine,
    resolution,
):
    args = ["hotspots", "--days", "90", "--resolution", str(resolution)]
    _forget(demo_engine, "hotspot_cells")
    _analyse(demo_url, *args)
    expected = _rows(demo_engine, "hotspot_cells", resolution)
    assert len(expected) >= (20 if resolution == 9 else 3) and expected.z.abs().max() > 1
    _forget(demo_engine, "hotspot_cells")
    said = _analyse(demo_url, *args, "--scheduler", dask_cluster, "--parts", "5")
    assert f"on {dask_cluster}" in said
    pd.testing.assert_frame_equal(
        _rows(demo_engine, "hotspot_cells", resolution), expected, check_exact=True
    )


@pytest.mark.usefixtures("keep_layers")
def test_emerging_hot_spots_on_a_dask_cluster_equal_the_single_process_rows(
    dask_cluster,
    demo_url,
    demo_engine,
):
    args = ["emerging", "--weeks", "12"]
    _forget(demo_engine, "emerging_cells")
    _analyse(demo_url, *args)
    expected = _rows(demo_engine, "emerging_cells", 9)
    assert len(expected) > 20 and expected.trend_z.abs().max() > 1  # no class: see the next test
    _forget(demo_engine, "emerging_cells")
    _analyse(demo_url, *args, "--scheduler", dask_cluster, "--parts", "6")
    pd.testing.assert_frame_equal(
        _rows(demo_engine, "emerging_cells", 9), expected, check_exact=True
    )


@pytest.mark.parametrize("halo", [None, 0])
def test_hotspots_across_parts_on_the_cluster_need_the_halo(dask_cluster, halo):
    from distributed import Client

    weeks = 8
    study, counts = boundary_field(weeks=weeks)
    cube = np.zeros((weeks, study.size))
    cube[counts.slice, np.searchsorted(study, counts.cell)] = counts.n
    whole = emerging_hotspots(cube, h3_weights(study)).assign(cell=study)
    load = partial(frame_counts, counts=counts)
    with Client(dask_cluster, timeout=30) as client:
        parts = emerging_in_parts(
            client, study, load, global_moments(cube), 8, n_slices=weeks, halo=halo
        )
    if halo is None:
        pd.testing.assert_frame_equal(parts, whole, check_exact=True)
    else:
        assert (parts.category != whole.category).sum() > 10


@pytest.mark.usefixtures("keep_layers")
@pytest.mark.parametrize("command", ["hotspots", "emerging"])
def test_an_unreachable_scheduler_is_said_so_and_nothing_is_written(demo_url, demo_engine, command):
    layer = "hotspot_cells" if command == "hotspots" else "emerging_cells"
    _analyse(demo_url, command, "--resolution", "8")
    before = _rows(demo_engine, layer, 8)
    assert len(before) > 0
    said = _analyse(
        demo_url, command, "--resolution", "8", "--scheduler", "tcp://127.0.0.1:9", code=2
    )
    assert "Dask 调度器无应答" in said and "the Dask scheduler does not answer" in said
    assert "No Dask scheduler answers at tcp://127.0.0.1:9" in said
    pd.testing.assert_frame_equal(_rows(demo_engine, layer, 8), before)
