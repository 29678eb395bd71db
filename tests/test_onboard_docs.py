"""Issue 14: two cities onboard from an empty database with the commands of docs/onboard.md.

The test reads the ```bash blocks of ``docs/onboard.md`` (one per city section) and runs
every command, in order, against a fresh, empty database per city (the page and the test
cannot drift apart), then checks what the commands left in the layers.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cli import app
from tests.conftest import recreate_database

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "onboard.md"
runner = CliRunner()


def documented_commands() -> dict[str, list[list[str]]]:
    """City section title -> the gridgov commands of its ```bash block, split like a shell."""
    sections: dict[str, list[list[str]]] = {}
    for section in re.split(r"^## ", DOC.read_text(encoding="utf-8"), flags=re.M)[1:]:
        title = section.splitlines()[0].split(":")[0].strip()
        blocks = re.findall(r"^```bash\n(.*?)^```", section, flags=re.M | re.S)
        commands = [
            shlex.split(line, comments=True)
            for block in blocks
            for line in block.splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
        if commands:
            sections[title] = commands
    return sections


def run_documented(title: str, database: str) -> tuple[sa.Engine, list[str]]:
    commands = documented_commands()[title]
    engine = recreate_database(database)
    url = engine.url.render_as_string(hide_password=False)
    outputs = []
    cwd = os.getcwd()
    os.chdir(ROOT)  # the page's paths are relative to the project
    try:
        for argv in commands:
            assert argv[0] == "gridgov", f"{DOC.name}: not a gridgov command: {argv}"
            # an ordinary 80-column terminal: nothing a city needs to read may be cut off
            result = runner.invoke(app, argv[1:], env={"DATABASE_URL": url, "COLUMNS": "80"})
            assert result.exit_code == 0, f"{shlex.join(argv)} failed:\n{result.output}"
            outputs.append(result.output)
    finally:
        os.chdir(cwd)
    return engine, outputs


def test_the_page_documents_both_cities():
    sections = documented_commands()
    assert set(sections) == {"San Francisco", "Helsinki"}
    assert all(
        argv[:3] == ["gridgov", "city", "init"] for argv in [c[0] for c in sections.values()]
    )


def _one(conn, sql: str, **params):
    return conn.execute(sa.text(sql), params).scalar_one()


def test_san_francisco_onboards_from_an_empty_database():
    engine, outputs = run_documented("San Francisco", "gridgov_test_onboard_sf")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT name_en, timezone, admin_code FROM city")).all() == [
            ("San Francisco", "America/Los_Angeles", "060750")
        ]
        assert _one(conn, "SELECT count(*) FROM categories") == 93 + 9
        assert _one(conn, "SELECT count(*) FROM communities") == 117
        assert _one(conn, "SELECT count(*) FROM buildings") > 240_000
        local = _one(
            conn,
            """SELECT count(*) FROM cases c JOIN categories k ON k.id = c.category_id
               WHERE k.service_code LIKE 'E069%'""",
        )
        assert local > 2_000  # SF's own classes took in what the national catalogue refused
        unexplained = _one(
            conn,
            """SELECT count(*) FROM cases c
               WHERE c.status = 'dispatched' AND c.department_id IS NULL
                 AND NOT EXISTS (SELECT 1 FROM import_notes n WHERE n.code = 'not_routed'
                                 AND n.message LIKE 'case ' || c.id || ':%')""",
        )
        routed = _one(
            conn,
            "SELECT count(*) FROM cases WHERE department_id IS NOT NULL "
            "AND deadline_at IS NOT NULL",
        )
        assert unexplained == 0 and routed > 0
        assert _one(conn, "SELECT count(*) FROM case_history_violations(10)") == 0
        assert _one(conn, "SELECT count(*) FROM grids") == 0  # only a dry run
    load_bq = outputs[4]
    assert "noted: routed" in load_bq and "adds up" in load_bq
    runs = outputs[6]  # gridgov load runs: every column, not cut at 80 columns
    assert all(c in runs for c in ("n_quarantined", "n_present", "started_at"))
    assert "户数 Households per grid" in outputs[7]
    assert "✗ 网格 grids: 0" in outputs[8]
    engine.dispose()


def test_helsinki_onboards_from_an_empty_database():
    engine, outputs = run_documented("Helsinki", "gridgov_test_onboard_hel")
    with engine.connect() as conn:
        roads = dict(
            conn.execute(sa.text("SELECT road_class, count(*) FROM roads GROUP BY 1")).all()
        )
        assert set(roads) == {"major", "minor", "footway"} and roads["major"] > 100
        assert _one(conn, "SELECT count(*) FROM parts") == 586 + 37 + 52
        assert _one(conn, "SELECT count(*) FROM buildings") == 446
        grids = _one(conn, "SELECT count(*) FROM grids_current")
        assert grids >= 20
        households = _one(conn, "SELECT sum(households) FROM grids_current")
        assert households == 446 * 30
    assert "already present 0" in outputs[2] and "loaded 0 " in outputs[3]
    assert "Every required step is done" in outputs[-1]
    engine.dispose()


@pytest.mark.parametrize("title", ["San Francisco", "Helsinki"])
def test_every_documented_command_has_help(title):
    for argv in documented_commands()[title]:
        words = [w for w in argv[1:] if not w.startswith("-")][:2]
        result = runner.invoke(app, [*words[:2], "--help"])
        assert result.exit_code == 0, (argv, result.output)
