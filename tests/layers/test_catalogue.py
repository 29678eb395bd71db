"""The catalogue is data: loaded from CSV, idempotent, checked row by row."""

import shutil

import pytest
import sqlalchemy as sa

from layers.catalogue import CATALOGUE_DIR, CatalogueError, load_catalogue, read_categories


def test_catalogue_covers_parts_and_events_in_two_levels():
    cats = read_categories()
    assert set(cats.kind) == {"part", "event"}
    majors = cats[cats.level == 1]
    assert len(majors[majors.kind == "part"]) == 6 and len(majors[majors.kind == "event"]) == 6
    assert (cats[cats.level == 2].parent.isin(majors.service_code)).all()
    assert cats.name_zh.str.len().gt(0).all() and cats.name_en.str.len().gt(0).all()
    assert cats.code_old.notna().sum() > 40 and cats.code_new.notna().sum() > 40


def test_loading_twice_changes_nothing(conn):
    def snapshot():
        return conn.execute(
            sa.text(
                "SELECT (SELECT count(*) FROM categories), (SELECT count(*) FROM departments), "
                "(SELECT count(*) FROM responsibility_rules), "
                "(SELECT md5(string_agg(service_code || name_en, ',' ORDER BY id)) FROM categories)"
            )
        ).one()

    before = snapshot()
    load_catalogue(conn)
    assert snapshot() == before
    assert before[0] == len(read_categories())


def test_a_bad_row_is_named(tmp_path):
    shutil.copy(CATALOGUE_DIR / "departments.csv", tmp_path)
    text = (CATALOGUE_DIR / "categories.csv").read_text()
    (tmp_path / "categories.csv").write_text(text.replace("P0102,part,2,P01", "P0102,gadget,2,P01"))
    with pytest.raises(CatalogueError, match=r"line 4 \(P0102\): kind must be"):
        read_categories(tmp_path)
    (tmp_path / "categories.csv").write_text(text.replace("P0102,part,2,P01", "P0102,part,2,P99"))
    with pytest.raises(CatalogueError, match="parent 'P99' is not in the catalogue"):
        read_categories(tmp_path)
