"""`gridgov patrol …`: patrol plans for grid workers."""

from __future__ import annotations

from datetime import date

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from layers.db import get_engine

console = Console()
patrol_app = typer.Typer(help="Patrol plans for grid workers.", no_args_is_help=True)


@patrol_app.command("plan")
def plan(
    plan_date: str = typer.Option(
        None, "--date", help="Day of the plan (YYYY-MM-DD); default: next Monday."
    ),
    days: int = typer.Option(90, min=7, help="Cases of the last DAYS days make the hot cells."),
    shift_hours: float = typer.Option(4.0, min=0.5, max=12, help="Length of the shift."),
    seconds_per_worker: float = typer.Option(0.3, min=0.05, max=10, help="Solver time per worker."),
) -> None:
    """One shift route per worker (OR-Tools), written to the layer patrol_plans."""
    from layers.patrol_plans import next_plan_date, plan_patrols

    day = date.fromisoformat(plan_date) if plan_date else next_plan_date(date.today())
    with Progress(
        "{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("planning", total=None)
        with get_engine().begin() as conn:
            plans = plan_patrols(
                conn=conn,
                plan_date=day,
                days=days,
                shift_s=shift_hours * 3600,
                time_limit_s=seconds_per_worker,
                progress=lambda k, n: progress.update(task, completed=k, total=n),
            )
    if plans.empty:
        console.print(
            "没有网格配有网格员，无可规划\nNo grid has an assigned worker: nothing to plan."
        )
        return
    ours, base = plans.length_m.sum(), plans.baseline_m.sum()
    console.print(
        f"patrol_plans for {day}: {len(plans)} workers, "
        f"{plans.stops.map(len).sum():,} stops, {ours / 1000:.1f} km in all "
        f"({1 - ours / base:.1%} shorter than nearest-neighbour order)."
    )
