"""The partition archive's fixes by worker group: names, sizes, parts across months."""

from __future__ import annotations

import json

import pytest

from gis import fix_archive


def test_a_month_is_cut_into_a_power_of_two_of_files():
    per = fix_archive.FIXES_PER_FILE
    assert [fix_archive.group_count(n) for n in (0, 1, per)] == [1, 1, 1]
    assert fix_archive.group_count(per + 1) == 2
    assert fix_archive.group_count(3 * per) == 4
    assert fix_archive.group_count(830_000_000) == 1024  # a province's month


def test_names_read_back_and_others_are_not_archive_files():
    for groups in (1, 2, 1024):
        for group in (0, groups - 1):
            assert fix_archive.parse_name(fix_archive.file_name(group, groups)) == (group, groups)
    assert fix_archive.parse_name("workers-003-of-003.parquet") is None  # group >= groups
    assert fix_archive.parse_name("workers-001-of-003.parquet") is None  # not a power of two
    assert fix_archive.parse_name("part0.parquet") is None


def _month(root, tag: str, groups: int | None) -> list[str]:
    folder = root / tag
    folder.mkdir()
    (folder / "account.json").write_text(json.dumps({"month": tag, "tables": {}}))
    if groups is None:  # archived before the split: one file
        (folder / "patrol_points.parquet").write_bytes(b"")
        return [str(folder / "patrol_points.parquet")]
    names = []
    (folder / "patrol_points").mkdir()
    for i in range(groups):
        path = folder / "patrol_points" / fix_archive.file_name(i, groups)
        path.write_bytes(b"")
        names.append(str(path))
    return names


def test_months_with_other_group_counts_are_joined_by_the_smallest(tmp_path):
    march = _month(tmp_path, "2026-03", 4)
    april = _month(tmp_path, "2026-04", 2)
    parts = fix_archive.archive_parts(tmp_path)
    # worker w is in march's file w % 4 and april's file w % 2: part w % 2 holds both
    assert parts == [[march[0], march[2], april[0]], [march[1], march[3], april[1]]]
    assert fix_archive.archive_parts(tmp_path / "2026-03") == [[f] for f in march]
    assert fix_archive.is_archive(tmp_path) and fix_archive.is_archive(tmp_path / "2026-04")
    assert not fix_archive.is_archive(tmp_path / "2026-04" / "patrol_points")


def test_a_month_archived_in_one_file_is_one_part(tmp_path):
    old = _month(tmp_path, "2026-01", None)
    new = _month(tmp_path, "2026-02", 2)
    assert fix_archive.archive_parts(tmp_path) == [old + new]


def test_a_missing_group_file_is_refused(tmp_path):
    files = _month(tmp_path, "2026-03", 4)
    (tmp_path / files[1]).unlink()
    with pytest.raises(ValueError, match="incomplete"):
        fix_archive.archive_parts(tmp_path)
