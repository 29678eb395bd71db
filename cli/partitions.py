"""`gridgov db partitions …`: monthly partitions of cases, case_events, patrol_points (no SQL)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from cli.errors import reported_errors
from layers import partitions
from layers.db import get_engine

console = Console()
partitions_app = typer.Typer(
    help="按月分区 / Monthly partitions of cases, case_events and patrol_points: create ahead, "
    "list, detach a month into a GeoParquet archive, attach it back.",
    no_args_is_help=True,
)


@partitions_app.command("ensure")
def ensure(
    months_ahead: int = typer.Option(
        partitions.MONTHS_AHEAD,
        "--months-ahead",
        min=0,
        help="提前建几个月 / How many months after this one get their partition now.",
    ),
    since: str | None = typer.Option(
        None, "--since", help="从哪个月起 (YYYY-MM) / First month (default: this month)."
    ),
) -> None:
    """建好本月及之后几个月的分区（可重复运行）/ Create the partitions of this month and the
    next ones; rows of those months waiting in a default partition move in. Safe to re-run."""
    with reported_errors(), get_engine().begin() as conn:
        start = partitions.parse_month(since) if since else None
        created = partitions.ensure(conn, months_ahead=months_ahead, start=start)
        if start is not None:
            created += partitions.ensure(conn, months_ahead=months_ahead)
    if not created:
        console.print("分区已齐 / every partition is there already: nothing to do.")
        return
    for table, name in created:
        console.print(f"新建分区 / created {name} ({table})")
    console.print(f"共 {len(created)} 个 / {len(created)} partitions created.")


@partitions_app.command("list")
def list_partitions(
    estimate: bool = typer.Option(
        False, "--estimate", help="行数用统计估计（快）/ Planner's row estimates instead of counts."
    ),
) -> None:
    """列出每个分区：月份、行数、大小 / Every partition: table, month, rows, size on disk."""
    with reported_errors(), get_engine().connect() as conn:
        found = partitions.partitions(conn, exact=not estimate)
    table = Table("表 / table", "月份 / month (UTC)", "行数 / rows", "大小 / size")
    for p in found:
        table.add_row(
            p.table, p.month or "默认 / default", f"{p.rows:,}", f"{p.bytes / 1_048_576:,.1f} MB"
        )
    console.print(table)


@partitions_app.command("detach")
def detach(
    month: str = typer.Argument(..., help="月份 YYYY-MM (UTC) / The month, YYYY-MM."),
    archive: Path = typer.Option(  # noqa: B008 - typer's documented idiom
        ..., "--archive", help="归档目录 / Archive folder (the month goes into DIR/YYYY-MM/)."
    ),
) -> None:
    """把一个月归档为 GeoParquet 并移出数据库 / Write a month of the three tables (and every
    row that refers to its cases and events) as GeoParquet with an account of row counts,
    check the files against the database, then drop the month. All or nothing."""
    with reported_errors(), get_engine().begin() as conn:
        account = partitions.detach(conn, month, str(archive))
    _print_account("已归档 / detached", account, archive)


@partitions_app.command("attach")
def attach(
    month: str = typer.Argument(..., help="月份 YYYY-MM (UTC) / The month, YYYY-MM."),
    archive: Path = typer.Option(  # noqa: B008 - typer's documented idiom
        ..., "--archive", help="归档目录 / Archive folder holding YYYY-MM/account.json."
    ),
) -> None:
    """把归档的月份读回数据库并核对账目 / Read an archived month back and check every table
    against its account. All or nothing."""
    with reported_errors(), get_engine().begin() as conn:
        account = partitions.attach(conn, month, str(archive))
    _print_account("已读回 / attached", account, archive)


def _print_account(what: str, account: dict, archive: Path) -> None:
    table = Table("表 / table", "行数 / rows")
    for name, entry in account["tables"].items():
        table.add_row(name, f"{entry['rows']:,}")
    console.print(table)
    console.print(
        f"{what} {account['month']}: {archive / account['month']} (账目相符 / account adds up)"
    )
