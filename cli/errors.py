"""How the CLI reports an error: one line ``error (code): message``, then exit.

The one copy of the CLI's error printing: every command catches
:class:`gis.errors.GridGovError` (the root of every GridGov error) and calls
:func:`fail`; the exit status comes from the one mapping in :mod:`services.errors`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from services.errors import GridGovError, exit_code

err = Console(stderr=True)


def fail(exc: GridGovError) -> NoReturn:
    """Print ``exc`` as one line on stderr and exit with its status."""
    err.print(f"[bold red]error[/] ({exc.code}): {escape(str(exc))}")
    raise typer.Exit(exit_code(exc)) from exc


@contextmanager
def reported_errors() -> Iterator[None]:
    """Inside the block, a GridGov error ends the command with :func:`fail`."""
    try:
        yield
    except GridGovError as exc:
        fail(exc)
