"""The city profile: read from one file, checked key by key, overridable by GRIDGOV_CITY_PROFILE."""

from __future__ import annotations

from pathlib import Path

import pytest

from city import GridSize, ProfileError, load_profile, profile, time_zone
from city.profile import DEFAULT_PATH

DEMO = DEFAULT_PATH.read_text(encoding="utf-8")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "city.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_demo_city_is_the_default():
    p = load_profile()
    assert p.time_zone.key == "Asia/Shanghai"
    assert p.admin_code == "320508"
    assert p.grid == GridSize(target=400, low=300, high=500)
    assert p.media.max_photo_bytes == 10 * 1024 * 1024
    assert p.tiles.centre == (31.30, 120.60)
    assert p.source == DEFAULT_PATH


def test_the_environment_names_another_city(tmp_path, monkeypatch):
    other = DEMO.replace('"Asia/Shanghai"', '"Asia/Urumqi"').replace("target = 400", "target = 350")
    monkeypatch.setenv("GRIDGOV_CITY_PROFILE", str(_write(tmp_path, other)))
    assert profile().time_zone.key == "Asia/Urumqi"
    assert time_zone().key == "Asia/Urumqi"
    assert profile().grid == GridSize(350, 300, 500)
    monkeypatch.delenv("GRIDGOV_CITY_PROFILE")
    assert profile().time_zone.key == "Asia/Shanghai"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('"Asia/Shanghai"', '"Mars/Olympus"', r"time_zone: 'Mars/Olympus' is not a known IANA"),
        ('time_zone = "Asia/Shanghai"', "time_zone = 8", "time_zone: must be an IANA"),
        ('admin_code = "320508"', "admin_code = 320508", "admin_code: must be 6 digits"),
        ('name_en = "Gusu District, Suzhou"', 'name_en = ""', "name_en: must be a non-empty"),
        ("low = 300", "low = 450", r"grid: .*low=450, target=400"),
        ("target = 400", "target = 400.5", r"grid.target: must be a whole number, got 400.5"),
        ("high = 500", "", "grid.high: missing"),
        ("max_photo_mb = 10", "max_photo_mb = 10\ncolour = 'red'", "media.colour: unknown key"),
        ('name_zh = "苏州市姑苏区"', 'name_zh = "苏州市姑苏区"\nmayor = "x"', "mayor: unknown key"),
        ("max_photo_mb = 10", "max_photo_mb = 0", r"media.max_photo_mb: must be a number"),
        ("centre = [31.30, 120.60]", "centre = [131.3, 20.6]", r"tiles.centre: must be \[lat"),
        ('url = ""', 'url = "ftp://tiles"', "tiles.url: must start with http"),
        ("zoom = 14", "zoom = 30", r"tiles.zoom: must satisfy"),
    ],
)
def test_bad_values_are_named_by_their_key(tmp_path, old, new, message):
    assert old in DEMO
    path = _write(tmp_path, DEMO.replace(old, new, 1))
    with pytest.raises(ProfileError, match=message) as caught:
        load_profile(path)
    assert str(path) in str(caught.value)


def test_a_missing_or_broken_file_is_reported(tmp_path):
    with pytest.raises(ProfileError, match="cannot read it"):
        load_profile(tmp_path / "nowhere.toml")
    with pytest.raises(ProfileError, match="not valid TOML"):
        load_profile(_write(tmp_path, "time_zone = "))
    with pytest.raises(ProfileError, match="admin_code: missing"):
        load_profile(_write(tmp_path, 'name_zh = "x"\nname_en = "x"\n'))


def test_the_time_zone_is_named_in_one_place_only():
    """Issue 12: grep for the zone across the code finds the profile and nothing else."""
    root = DEFAULT_PATH.parent.parent
    needles = ("Asia/" + "Shanghai", "hours=" + "8)", "UTC" + "+8")
    found = []
    for folder in ("city", "gis", "layers", "dashboard", "app_pages", "cli", "api", "benchmarks",
                   "scripts", "tests", "data", "docs"):  # fmt: skip
        for path in (root / folder).rglob("*"):
            if path.suffix not in {".py", ".toml", ".yaml", ".yml", ".md", ".sql", ".csv"}:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            found += [f"{path.relative_to(root)}: {n}" for n in needles if n in text]
    old = "layers/migrations/versions/0002_workflow.py: Asia/" + "Shanghai"  # superseded by 0050
    assert sorted(set(found) - {old}) == [
        "data/city.toml: Asia/" + "Shanghai",
        "tests/city/test_profile.py: Asia/" + "Shanghai",
    ]


def test_the_maps_take_their_tiles_from_the_profile(tmp_path, monkeypatch):
    from dashboard import maps

    monkeypatch.delenv("GRIDGOV_TILE_URL", raising=False)
    assert "intranet" not in maps.available_base_maps()
    m = maps.new_map(None)
    assert m.location == [31.30, 120.60]
    other = DEMO.replace('url = ""', 'url = "http://tiles.city.local/{z}/{x}/{y}.png"').replace(
        "centre = [31.30, 120.60]", "centre = [30.25, 120.15]"
    )
    monkeypatch.setenv("GRIDGOV_CITY_PROFILE", str(_write(tmp_path, other)))
    assert "intranet" in maps.available_base_maps()
    m = maps.new_map(None, base="intranet")
    assert m.location == [30.25, 120.15]
    html = m.get_root().render()
    assert "http://tiles.city.local/{z}/{x}/{y}.png" in html
    assert "intranet tiles" in html
