"""The rows a bulk load of cases writes (:mod:`layers.ingest.cases_bulk`), made when
their COPY comes.

:class:`Rows` holds, for every new case, only what decides which rows go in and where
(:func:`core_of`); the full rows of ``cases`` (:func:`case_rows`), their ``case_keys``
(:func:`keys_of`), the history (:class:`History`) and the lead assignments
(:func:`assignments_of`) are made month by month in the thread that encodes them while
the server copies the month before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from gis.assign import H3_RESOLUTIONS
from layers.bulk import point_ewkb_arrow
from layers.bulk_months import months_of_rows
from layers.ingest.points import take_rows

H3_KEYS = [f"h3_r{r}" for r in H3_RESOLUTIONS]
"""The H3 columns of ``cases``."""
STAMP = pa.timestamp("us", tz="UTC")
"""An instant, as the history's and the deadlines' columns hold it."""


@dataclass(frozen=True)
class Rows:
    """What one bulk load writes: cases, their keys, history events, the routed ones'
    assignments.

    Only :attr:`core` is made up front. The rest is made when its COPY comes,
    in :func:`layers.bulk.copy_binary_many`'s encoding thread, while the server
    copies what came before: most of a load's own work then overlaps the
    server's (the full rows of a month of cases, their text, geometry, H3 and
    routing, are made while the month before is copied).
    """

    core: pa.Table
    """``id``, ``street_code``, ``status``, ``reported_at`` and ``closed_at`` of every
    new case, in id order."""
    cases: Callable[[np.ndarray], pa.Table]
    """The full ``cases`` rows at these positions of :attr:`core`."""
    keys: Callable[[], pa.Table]
    """The ``case_keys`` rows of every new case."""
    events: History
    assignments: pa.Table

    def case_months(self) -> list[tuple[date, Callable[[], pa.Table]]]:
        """The cases by UTC month of their report (each month's rows made when asked for)."""
        return months_of_rows(self.core.column("reported_at"), self.cases)


class History:
    """The history rows of a load: one ``import`` event per case (at its close, else
    report time, in case-id order), then the ``route`` events; made once, when first
    asked for."""

    def __init__(
        self, core: pa.Table, source: str, reason: str, first_id: int, routes: pa.Table
    ) -> None:
        self._args = (core, source, reason, first_id)
        self._routes = routes
        self._table: pa.Table | None = None
        self.at = pa.chunked_array(
            [*import_times(core).chunks, *routes.column("at").chunks], type=STAMP
        )
        """Each row's ``at``, known before the rows are made (their months)."""

    def table(self) -> pa.Table:
        if self._table is None:
            self._table = pa.concat_tables([history_of(*self._args), self._routes])
        return self._table

    def months(self) -> list[tuple[date, Callable[[], pa.Table]]]:
        """The rows by UTC month of ``at`` (made when the first month is asked for)."""
        return months_of_rows(self.at, lambda at: self.table().take(at))


def import_times(core: pa.Table) -> pa.ChunkedArray:
    """The time of each case's ``import`` event: its close, else its report."""
    return pc.coalesce(core.column("closed_at"), core.column("reported_at")).cast(STAMP)


def route_columns(
    routed: pd.DataFrame, n: int, first_id: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(department, deadline, dispatch time) of each of the ``n`` new cases, by position
    (-1 and NaT for those not routed)."""
    department = np.full(n, -1, dtype=np.int64)
    deadline = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    dispatched = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    if len(routed):
        at = routed.id.to_numpy(dtype=np.int64) - first_id
        department[at] = routed.department_id.to_numpy()
        deadline[at] = naive_utc(routed.deadline_at)
        dispatched[at] = naive_utc(routed.reported_at)
    return department, deadline, dispatched


def naive_utc(times: pd.Series) -> np.ndarray:
    """Aware times as naive UTC ``datetime64[us]``."""
    return times.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[us]")


def route_events(routed: pd.DataFrame, source: str, first_id: int) -> pa.Table:
    """One ``route`` event per routed case (as :data:`layers.ingest.routing.APPLY` writes)."""
    n = len(routed)
    stamp = pa.timestamp("us", tz="UTC")

    def constant(value: str) -> pa.Array:
        return pa.repeat(pa.scalar(value, pa.string()), n)

    if n == 0:
        return EVENTS.empty_table()
    status = pa.array(routed.status.to_numpy(dtype=object), type=pa.string())
    return pa.table(
        {
            "id": pa.array(np.arange(n, dtype=np.int64) + first_id),
            "case_id": pa.array(routed.id.to_numpy(dtype=np.int64)),
            "street_code": pa.array(routed.street_code.to_numpy(dtype=object), type=pa.string()),
            "at": pa.array(naive_utc(routed.event_at)).cast(stamp),
            "actor": constant(f"import:{source}"),
            "role": constant("system"),
            "action": constant("route"),
            "from_status": status,
            "to_status": status,
            "reason": pa.array(routed.reason.to_numpy(dtype=object), type=pa.string()),
        },
        schema=EVENTS,
    )


EVENTS = pa.schema(
    [
        ("id", pa.int64()),
        ("case_id", pa.int64()),
        ("street_code", pa.string()),
        ("at", pa.timestamp("us", tz="UTC")),
        ("actor", pa.string()),
        ("role", pa.string()),
        ("action", pa.string()),
        ("from_status", pa.string()),
        ("to_status", pa.string()),
        ("reason", pa.string()),
    ]
)


def assignments_of(routed: pd.DataFrame, events: pa.Table) -> pa.Table:
    """The lead assignment of each routed case, tied to its ``route`` event."""
    n = len(routed)
    if n == 0:
        return pa.table({"case_id": pa.array([], pa.int64())})
    stamp = pa.timestamp("us", tz="UTC")
    return pa.table(
        {
            "case_id": events.column("case_id"),
            "street_code": events.column("street_code"),
            "department_id": pa.array(routed.department_id.to_numpy(dtype=np.int64), pa.int32()),
            "role": pa.repeat(pa.scalar("lead", pa.string()), n),
            "rule": pa.array(routed.rule.to_numpy(dtype=object), type=pa.string()),
            "reason": events.column("reason"),
            "assigned_at": pa.array(naive_utc(routed.reported_at)).cast(stamp),
            "deadline_at": pa.array(naive_utc(routed.deadline_at)).cast(stamp),
            "event_id": events.column("id"),
            "event_at": events.column("at"),
        }
    )


def text_of(fields: dict, key: str, rows: np.ndarray) -> pa.Array:
    """The staging column ``key`` at the file rows ``rows``, as Arrow text."""
    return pa.array(take_rows(fields[key], rows), type=pa.string(), from_pandas=True)


def ints_of(fields: dict, key: str, rows: np.ndarray, kind: pa.DataType) -> pa.Array:
    """The staging column ``key`` at the file rows ``rows``, as Arrow integers (nulls kept)."""
    return pa.array(take_rows(fields[key], rows), type=kind, from_pandas=True)


def core_of(fields: dict, rows: np.ndarray, first_id: int) -> pa.Table:
    """:attr:`Rows.core` of the file rows ``rows``, their ids from ``first_id`` on."""
    return pa.table(
        {
            "id": pa.array(np.arange(len(rows), dtype=np.int64) + first_id),
            "street_code": text_of(fields, "street_code", rows),
            "status": text_of(fields, "status", rows),
            "reported_at": pa.array(take_rows(fields["reported_at"], rows)),
            "closed_at": pa.array(take_rows(fields["closed_at"], rows)),
        }
    )


def case_rows(
    fields: dict,
    rows: np.ndarray,
    source: str,
    core: pa.Table,
    *,
    routes: tuple[np.ndarray, np.ndarray, np.ndarray],
    h3: Callable[[np.ndarray], dict[str, np.ndarray]] | None,
) -> Callable[[np.ndarray], pa.Table]:
    """:attr:`Rows.cases`: the ``cases`` columns (geometry as EWKB bytes) of the file rows
    ``rows``, by position; ``routes``: :func:`route_columns`; the H3 columns from
    ``h3`` (of the file rows), else from ``fields``."""
    department, deadline, dispatched = routes

    def take(at: np.ndarray) -> pa.Table:
        chosen = rows[at]
        known = core.take(at)
        source_id = text_of(fields, "source_id", chosen)
        cells = h3(chosen) if h3 is not None else {k: fields[k][chosen] for k in H3_KEYS}
        departments = department[at]
        return pa.table(
            {
                "id": known.column("id"),
                "case_no": pc.binary_join_element_wise(pa.scalar(f"{source}-"), source_id, ""),
                "category_id": ints_of(fields, "category_id", chosen, pa.int32()),
                "street_code": known.column("street_code"),
                "community_id": ints_of(fields, "community_id", chosen, pa.int32()),
                "grid_id": ints_of(fields, "grid_id", chosen, pa.int32()),
                "source": text_of(fields, "channel", chosen),
                "description": text_of(fields, "description", chosen),
                "status": known.column("status"),
                "reported_at": known.column("reported_at"),
                "registered_at": known.column("reported_at"),
                "closed_at": known.column("closed_at"),
                "source_system": pa.repeat(pa.scalar(source, pa.string()), len(at)),
                "source_id": source_id,
                "geom": point_ewkb_arrow(fields["x"][chosen], fields["y"][chosen], hex=False),
                "address": text_of(fields, "address", chosen),
                **{key: pa.array(cells[key], type=pa.int64()) for key in H3_KEYS},
                "department_id": pa.array(departments, mask=departments < 0).cast(pa.int32()),
                "deadline_at": pa.array(deadline[at], from_pandas=True).cast(STAMP),
                "dispatched_at": pa.array(dispatched[at], from_pandas=True).cast(STAMP),
            }
        )

    return take


def keys_of(fields: dict, rows: np.ndarray, source: str, core: pa.Table) -> pa.Table:
    """The ``case_keys`` rows of the new cases (what the trigger ``cases_keys_insert`` writes)."""
    source_id = text_of(fields, "source_id", rows)
    return pa.table(
        {
            "id": core.column("id"),
            "reported_at": core.column("reported_at"),
            "case_no": pc.binary_join_element_wise(pa.scalar(f"{source}-"), source_id, ""),
            "source_system": pa.repeat(pa.scalar(source, pa.string()), len(rows)),
            "source_id": source_id,
            "street_code": core.column("street_code"),
        }
    )


def history_of(cases: pa.Table, source: str, reason: str, first_id: int) -> pa.Table:
    """One ``import`` event per case, at its close (else report) time, in case-id order."""
    n = cases.num_rows

    def constant(value: str | None) -> pa.Array:
        return pa.repeat(pa.scalar(value, pa.string()), n)

    return pa.table(
        {
            "id": pa.array(np.arange(n, dtype=np.int64) + first_id),
            "case_id": cases.column("id"),
            "street_code": cases.column("street_code"),
            "at": import_times(cases),
            "actor": constant(f"import:{source}"),
            "role": constant("system"),
            "action": constant("import"),
            "from_status": constant(None),
            "to_status": cases.column("status"),
            "reason": constant(reason),
        },
        schema=EVENTS,
    )
