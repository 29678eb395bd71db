"""The administrative levels of a boundaries import: parents, codes and upserts.

district (6 digits) → street (district code + 3) → community (street code + 3). A row's
parent comes, first match wins, from the mapping's fixed parent (``street:`` /
``district:``), from a parent column (a code or a name; an unknown name creates the
parent with a derived code), or from the loaded parent it overlaps most. Codes a file
does not give are derived: an area already loaded under the same parent and name keeps
its code; new names take the next free numbers, in name order. District codes are the
city's administrative code's first 4 digits + a 2-digit sequence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from layers.bulk import ewkb_hex
from layers.ingest.errors import MappingError, NotReadyError
from layers.ingest.mapping import Mapping
from layers.ingest.points import stage

DIGITS = {"district": 6, "street": 9, "community": 12}
"""Code length of each level."""
PARENT = {"community": "street", "street": "district", "district": None}
TABLE = {"district": "districts", "street": "streets", "community": "communities"}
JOIN_STAGE = "ingest_stage_parent_join"


@dataclass
class Created:
    """A parent area a file named but the database did not have: created with this code."""

    level: str
    code: str
    name: str
    first_row: int
    derived: bool
    geom: shapely.Geometry
    parent_code: str | None = None


@dataclass
class Parents:
    """Per row: the parent's code (None: none found) and how it was found."""

    codes: np.ndarray
    how: np.ndarray
    created: list[Created] = field(default_factory=list)


def known_areas(conn: Connection, level: str) -> pd.DataFrame:
    """code, name_zh, name_en, parent_code of every loaded area of ``level``."""
    parent = {
        "district": "NULL::text",
        "street": "left(code, 6)",
        "community": "left(code, 9)",
    }[level]
    return pd.read_sql_query(
        sa.text(
            f"SELECT trim(code) AS code, name_zh, name_en, {parent} AS parent_code "
            f"FROM {TABLE[level]} ORDER BY code"
        ),
        conn,
    )


def lookup(known: pd.DataFrame, value: str) -> str | None:
    """The code of the loaded area ``value`` names (its code, Chinese or English name)."""
    if value in set(known.code):
        return value
    for column in ("name_zh", "name_en"):
        hit = known.code[known[column] == value]
        if len(hit) == 1:
            return str(hit.iloc[0])
    return None


def next_codes(
    known: pd.DataFrame, parent_code: str, names: Sequence[str], *, level: str, reserved: set[str]
) -> dict[str, str]:
    """Codes for ``names`` under ``parent_code``: a loaded (parent, name) keeps its code."""
    width = DIGITS[level] - len(parent_code)
    mine = known[known.parent_code.fillna("") == parent_code] if level != "district" else known
    have = dict(zip(mine.name_zh, mine.code, strict=False))
    used = {c for c in known.code if c.startswith(parent_code)} | reserved
    out: dict[str, str] = {}
    seq = 0
    for name in sorted(set(names)):
        if name in have:
            out[name] = str(have[name])
            continue
        while True:
            seq += 1
            if seq >= 10**width:
                raise MappingError(
                    f"{parent_code}: more than {10**width - 1} {level} codes would be needed"
                )
            code = f"{parent_code}{seq:0{width}d}"
            if code not in used:
                break
        out[name] = code
        used.add(code)
    return out


def largest_overlap(conn: Connection, level: str, geoms: np.ndarray) -> np.ndarray:
    """Per geometry: the code of the loaded ``level`` area it overlaps most, or None."""
    out = np.full(len(geoms), None, dtype=object)
    if len(geoms) == 0:
        return out
    frame = pd.DataFrame({"i": np.arange(len(geoms)), "geom": ewkb_hex(geoms)})
    stage(conn, JOIN_STAGE, "i bigint, geom text", frame)
    rows = conn.execute(
        sa.text(f"""
        SELECT s.i, best.code FROM (SELECT i, ST_GeomFromEWKB(decode(geom, 'hex')) AS g
                                    FROM {JOIN_STAGE}) s
        CROSS JOIN LATERAL (
            SELECT trim(p.code) AS code FROM {TABLE[level]} p
            WHERE ST_Intersects(p.geom, s.g)
            ORDER BY ST_Area(ST_Intersection(ST_MakeValid(p.geom), s.g)) DESC, p.code LIMIT 1
        ) best
    """)
    ).all()
    for i, code in rows:
        out[int(i)] = code
    return out


def city_district(conn: Connection) -> str:
    """The city's administrative code: the district of streets nothing else places."""
    code = conn.execute(sa.text("SELECT admin_code FROM city")).scalar()
    if code is None:
        raise NotReadyError(
            "no district for these streets: give the mapping a district: {code, name}, a "
            "district column, load the districts first, or run `gridgov city init` (its "
            "administrative code is then the district)"
        )
    return str(code)


def resolve_parents(
    conn: Connection,
    *,
    level: str,
    rows: np.ndarray,
    geoms: np.ndarray,
    values: np.ndarray | None,
    fixed: str | None,
) -> Parents:
    """The parent code of each row at ``rows`` (None where nothing places it).

    ``values`` are the parent column's texts (a code or a name; None: blank), ``fixed``
    the mapping's fixed parent code. Unknown names become new parents (``created``),
    their geometry the union of their rows.
    """
    parent_level = PARENT[level]
    n = len(geoms)
    codes = np.full(n, None, dtype=object)
    how = np.full(n, "", dtype=object)
    if parent_level is None:
        return Parents(codes, how)
    if fixed is not None:
        codes[rows] = fixed
        how[rows] = "mapping"
        return Parents(codes, how)
    created: list[Created] = []
    todo = rows
    if values is not None:
        known = known_areas(conn, parent_level)
        new_names: dict[str, list[int]] = {}
        for i in rows:
            v = values[i]
            if v is None:
                continue
            code = lookup(known, str(v))
            if code is not None:
                codes[i], how[i] = code, "column"
            else:
                new_names.setdefault(str(v), []).append(int(i))
        for name, members in new_names.items():
            created.append(
                Created(
                    level=parent_level,
                    code="",
                    name=name,
                    first_row=members[0],
                    derived=True,
                    geom=shapely.union_all(list(geoms[members])),
                )
            )
            codes[members] = name  # replaced by the code once the parents are coded
            how[members] = "created"
        todo = np.array([i for i in rows if codes[i] is None], dtype=np.int64)
    joined = largest_overlap(conn, parent_level, geoms[todo])
    codes[todo] = joined
    how[todo] = np.where(pd.isna(joined), "", "overlap")
    return Parents(codes, how, created)


def code_created(
    conn: Connection, created: list[Created], *, parents: Sequence[str | None], reserved: set[str]
) -> None:
    """Give each created area its code, under its parent in ``parents`` (None: overlap, else city).

    Districts take the city's administrative code's first 4 digits + the next 2 digits.
    """
    if not created:
        return
    level = created[0].level
    known = known_areas(conn, level)
    if level == "district":
        city = city_district(conn)
        by_name = next_codes(
            known, city[:4], [c.name for c in created], level=level, reserved=reserved
        )
        for c in created:
            c.code = by_name[c.name]
        return
    over = largest_overlap(conn, "district", np.array([c.geom for c in created], dtype=object))
    fallback: str | None = None
    for c, given, joined in zip(created, parents, over, strict=True):
        if given is not None:
            c.parent_code = given
        elif joined is not None:
            c.parent_code = str(joined)
        else:
            fallback = fallback or city_district(conn)
            c.parent_code = fallback
    for parent in sorted({str(c.parent_code) for c in created}):
        mine = [c for c in created if c.parent_code == parent]
        by_name = next_codes(known, parent, [c.name for c in mine], level=level, reserved=reserved)
        for c in mine:
            c.code = by_name[c.name]


class Plan:
    """Per row: its code, its parent's code, how each was found; the parents created."""

    def __init__(self, n: int) -> None:
        self.code = np.full(n, None, dtype=object)
        self.parent = np.full(n, None, dtype=object)
        self.how = np.full(n, "", dtype=object)
        self.derived = np.zeros(n, dtype=bool)
        self.created: list[Created] = []


def plan_areas(
    conn: Connection,
    *,
    mapping: Mapping,
    heads: np.ndarray,
    geoms: np.ndarray,
    names: np.ndarray,
    parents_in: np.ndarray | None,
    districts_in: np.ndarray | None,
    given: np.ndarray | None,
) -> Plan:
    """Parents and codes of the rows at ``heads`` (first rows of each area)."""
    level = mapping.level
    plan = Plan(len(names))
    fixed = (mapping.street or mapping.district).get("code")
    parent_level = PARENT[level]
    if parent_level is not None and fixed is None and parents_in is None and given is not None:
        known = set(known_areas(conn, parent_level).code)
        width = DIGITS[parent_level]
        for i in heads:  # a code names its parent: its first digits (a district need not
            # be loaded: a street's district is its code's first 6 digits)
            prefix = str(given[i])[:width] if given[i] is not None else None
            if prefix is not None and (prefix in known or level == "street"):
                plan.parent[i], plan.how[i] = str(given[i])[:width], "code"
    rest = np.array([i for i in heads if plan.parent[i] is None], dtype=np.int64)
    found = resolve_parents(
        conn, level=level, rows=rest, geoms=geoms, values=parents_in, fixed=fixed
    )
    plan.parent[rest], plan.how[rest] = found.codes[rest], found.how[rest]
    plan.created = found.created
    if found.created:  # districts first: the streets created here are written into them
        grand, districts = _grand_parents(conn, mapping, found.created, districts_in)
        code_created(conn, found.created, parents=grand, reserved=set())
        plan.created = districts + found.created
        by_name = {c.name: c.code for c in found.created}
        for i in rest:
            if plan.how[i] == "created":
                plan.parent[i] = by_name[plan.parent[i]]
    if level == "street":  # no district named or overlapped: the city's own code
        alone = [i for i in heads if plan.parent[i] is None]
        if alone:
            try:
                plan.parent[alone] = city_district(conn)
                plan.how[alone] = "city"
            except NotReadyError:
                pass  # quarantined as no_parent, the message says what to give
    _row_codes(conn, level=level, plan=plan, heads=heads, names=names, given=given)
    return plan


def _grand_parents(
    conn: Connection, mapping: Mapping, created: list[Created], districts_in: np.ndarray | None
) -> tuple[list[str | None], list[Created]]:
    """The district of each street a community file creates (column, mapping, else None)."""
    if created[0].level != "street":
        return [None] * len(created), []
    if districts_in is None:
        return [mapping.district.get("code")] * len(created), []
    geoms = np.array([c.geom for c in created], dtype=object)
    values = np.array([districts_in[c.first_row] for c in created], dtype=object)
    rows = np.flatnonzero(np.array([v is not None for v in values], dtype=bool))
    found = resolve_parents(conn, level="street", rows=rows, geoms=geoms, values=values, fixed=None)
    if found.created:
        code_created(conn, found.created, parents=[None] * len(found.created), reserved=set())
        by_name = {c.name: c.code for c in found.created}
        for i in rows:
            if found.how[i] == "created":
                found.codes[i] = by_name[found.codes[i]]
    return [None if c is None else str(c) for c in found.codes], found.created


def _row_codes(
    conn: Connection,
    *,
    level: str,
    plan: Plan,
    heads: np.ndarray,
    names: np.ndarray,
    given: np.ndarray | None,
) -> None:
    """Each head row's code: the file's own, else derived under its parent."""
    known = known_areas(conn, level)
    if level == "district":
        plan.parent[heads] = ""
    need = [i for i in heads if given is None or given[i] is None]
    if given is not None:
        for i in heads:
            if given[i] is not None:
                plan.code[i] = str(given[i])
    for parent in sorted({str(plan.parent[i]) for i in need if plan.parent[i] is not None}):
        mine = [i for i in need if plan.parent[i] == parent]
        base = parent if level != "district" else _district_base(conn)
        by_name = next_codes(known, base, [names[i] for i in mine], level=level, reserved=set())
        for i in mine:
            plan.code[i] = by_name[names[i]]
            plan.derived[i] = True
    if level == "district":
        plan.parent[heads] = None
        plan.parent[heads] = plan.code[heads]  # a district is its own top: never "no parent"


def _district_base(conn: Connection) -> str:
    return city_district(conn)[:4]
