"""`gridgov city …`: a new city sets itself up and sees what to load next (no SQL here)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from cli.errors import fail
from layers.catalogue import CatalogueError, load_local_categories
from layers.city import CityError, CityProfile, city_profile, init_city, onboarding_status
from layers.db import DatabaseError, get_engine

console = Console()

city_app = typer.Typer(
    help="The city's own profile and its onboarding checklist (城市档案与上线清单).",
    no_args_is_help=True,
)


@city_app.command("init")
def init_cmd(
    name: str = typer.Option(..., help="The city's own name, e.g. 苏州市 or San Francisco."),
    name_en: str = typer.Option(..., help="The city's English name."),
    timezone: str = typer.Option(..., help="IANA time zone, e.g. Europe/Helsinki."),
    code: str = typer.Option(
        ..., help="6-digit administrative code: the first 6 digits of every street code."
    ),
) -> None:
    """Migrate, store the city's profile, load the category catalogue; print the checklist."""
    from layers import migrate

    try:
        engine = get_engine()
        migrate.upgrade(engine)
        with engine.begin() as conn:
            counts = init_city(CityProfile(name, name_en, timezone, code), conn=conn)
    except (DatabaseError, CityError, CatalogueError) as exc:
        fail(exc)
    console.print(
        f"城市 City: {name} ({name_en}), {timezone}, code {code}; "
        f"目录 catalogue: {counts['categories']} categories, "
        f"{counts['departments']} departments."
    )
    _print_checklist()


@city_app.command("categories")
def categories_cmd(
    directory: Path = typer.Argument(  # noqa: B008 - typer's documented idiom
        ..., exists=True, file_okay=False, help="Folder with categories.csv (+ departments.csv)."
    ),
) -> None:
    """Add the city's own minor classes (and departments) under the national major classes."""
    try:
        with get_engine().begin() as conn:
            counts = load_local_categories(conn, directory)
    except (DatabaseError, CatalogueError) as exc:
        fail(exc)
    console.print(
        f"本地类别 local classes: {counts['categories']} categories, "
        f"{counts['departments']} departments loaded from {directory}."
    )


@city_app.command("status")
def status_cmd() -> None:
    """Print the onboarding checklist: what is loaded and the command for what is missing."""
    _print_checklist()


def _print_checklist() -> None:
    try:
        with get_engine().connect() as conn:
            profile = city_profile(conn=conn)
            steps = onboarding_status(conn=conn)
    except DatabaseError as exc:
        fail(exc)
    if profile is None:
        console.print("尚无城市档案 No city profile yet: run gridgov city init first.")
    console.print("上线清单 Onboarding checklist:")
    for step in steps:
        mark = "✓" if step.done else ("✗" if step.required else "·")
        optional = "" if step.required else " (可选 optional)"
        line = f"  {mark} {step.zh} {step.en}{optional}: {step.count:,}"
        if not step.done:
            line += f"  ->  {step.command}"
        console.print(line, highlight=False, soft_wrap=True)
    todo = [s for s in steps if s.required and not s.done]
    if todo:
        console.print(f"下一步 Next: {todo[0].command}", highlight=False, soft_wrap=True)
    else:
        console.print("必需步骤已完成 Every required step is done.")
