"""The city's own profile and its onboarding checklist: what is loaded, what is missing.

A new city starts from an empty database: ``gridgov city init`` stores the
profile (names, IANA time zone, 6-digit administrative code) in the ``city``
table and loads the category catalogue; :func:`onboarding_status` then says,
step by step, what is loaded and which documented command loads what is not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from gis.errors import GridGovError
from layers.catalogue import CATALOGUE_DIR, load_catalogue

ADMIN_CODE = re.compile(r"^[0-9]{6}$")


class CityError(GridGovError, ValueError):
    """A city profile value is unusable; the message names the field and why."""

    code = "bad_city_profile"


@dataclass(frozen=True)
class CityProfile:
    """What a city says about itself.

    Attributes
    ----------
    name, name_en
        The city's own name (e.g. Chinese) and its English name.
    timezone
        IANA time zone (``Europe/Helsinki``, ``America/Los_Angeles``).
    admin_code
        6-digit administrative code: the first 6 digits of every street code
        and part code (a Chinese city's GB/T 2260 code; elsewhere any 6 digits,
        e.g. a US state + county FIPS code ``06075`` + ``0``).
    """

    name: str
    name_en: str
    timezone: str
    admin_code: str

    def checked(self) -> CityProfile:
        """The profile with names trimmed; :class:`CityError` naming the bad field."""
        name, name_en = self.name.strip(), self.name_en.strip()
        if not name:
            raise CityError("name: the city's name is empty")
        if not name_en:
            raise CityError("name_en: the city's English name is empty")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            near = sorted(z for z in available_timezones() if self.timezone.lower() in z.lower())
            hint = f" (did you mean {', '.join(near[:3])}?)" if near else ""
            raise CityError(
                f"timezone: {self.timezone!r} is not an IANA time zone such as "
                f"Europe/Helsinki or America/Los_Angeles{hint}"
            ) from exc
        if not ADMIN_CODE.match(self.admin_code):
            raise CityError(
                f"admin_code: {self.admin_code!r} is not 6 digits (the first 6 digits of "
                "every street code)"
            )
        return CityProfile(name, name_en, self.timezone, self.admin_code)


def init_city(profile: CityProfile, *, conn: Connection) -> dict[str, int]:
    """Store the city's profile (replacing an earlier one) and load the catalogue; idempotent.

    Runs in the caller's transaction.

    Returns
    -------
    dict
        Department and category rows in the catalogue files.

    Raises
    ------
    CityError
        A profile field is unusable.
    """
    p = profile.checked()
    conn.execute(
        sa.text("""
        INSERT INTO city (id, name, name_en, timezone, admin_code) VALUES (1, :n, :e, :tz, :code)
        ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, name_en = EXCLUDED.name_en,
            timezone = EXCLUDED.timezone, admin_code = EXCLUDED.admin_code, updated_at = now()
        WHERE (city.name, city.name_en, city.timezone, city.admin_code)
              IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.name_en, EXCLUDED.timezone,
                                EXCLUDED.admin_code)
    """),
        {"n": p.name, "e": p.name_en, "tz": p.timezone, "code": p.admin_code},
    )
    from layers.migrate import sync_city_settings  # SQL dates case numbers in this zone

    sync_city_settings(conn)
    return load_catalogue(conn, CATALOGUE_DIR)


def city_profile(*, conn: Connection) -> CityProfile | None:
    """The stored profile, or None before ``gridgov city init``."""
    row = conn.execute(sa.text("SELECT name, name_en, timezone, admin_code FROM city")).first()
    return CityProfile(*row) if row else None


@dataclass(frozen=True)
class Step:
    """One line of the onboarding checklist."""

    key: str
    zh: str
    en: str
    count: int
    required: bool
    command: str

    @property
    def done(self) -> bool:
        """True when something is loaded for this step."""
        return self.count > 0


_STEPS = (
    ("city", "城市档案", "city profile", "SELECT count(*) FROM city", True,
     "gridgov city init --name NAME --name-en NAME --timezone ZONE --code 6DIGITS"),
    ("catalogue", "类别目录", "category catalogue", "SELECT count(*) FROM categories", True,
     "gridgov city init … (or gridgov catalogue load)"),
    ("streets", "街道", "streets", "SELECT count(*) FROM streets", True,
     "gridgov load boundaries FILE -m MAPPING.yaml"),
    ("communities", "社区", "communities", "SELECT count(*) FROM communities", True,
     "gridgov load boundaries FILE -m MAPPING.yaml"),
    ("roads", "道路", "roads (major roads are grid barriers)", "SELECT count(*) FROM roads",
     False, "gridgov load roads FILE.osm.pbf (or .gpkg, .geojson)"),
    ("buildings", "建筑/门牌", "buildings or address points", "SELECT count(*) FROM buildings",
     True, "gridgov load buildings FILE -m MAPPING.yaml"),
    ("grids", "网格", "grids", "SELECT count(*) FROM grids_current", True,
     "gridgov grids delineate --dry-run, then gridgov grids delineate"),
    ("parts", "部件", "parts (facilities)", "SELECT count(*) FROM parts", False,
     "gridgov load parts FILE -m MAPPING.yaml"),
    ("cases", "案件", "cases", "SELECT count(*) FROM cases", False,
     "gridgov load cases FILE -m MAPPING.yaml"),
    ("users", "用户", "dashboard users", "SELECT count(*) FROM app_users", False,
     "gridgov users add NAME --role ROLE"),
)  # fmt: skip


def onboarding_status(*, conn: Connection) -> list[Step]:
    """The checklist: each step with what is loaded and the command that loads it."""
    steps = []
    for key, zh, en, sql, required, command in _STEPS:
        count = int(conn.execute(sa.text(sql)).scalar_one())
        steps.append(Step(key, zh, en, count, required, command))
    return steps


def missing_steps(*, conn: Connection, before: str) -> list[Step]:
    """Required steps before ``before`` (a step key) that are not done yet."""
    steps = onboarding_status(conn=conn)
    keys = [s.key for s in steps]
    return [s for s in steps[: keys.index(before)] if s.required and not s.done]
