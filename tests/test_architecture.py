"""The shape of the house that import-linter cannot see: the entry script and module sizes."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_entry_script_only_starts_the_router():
    """``app.py`` is a module, not a package, so import-linter cannot hold it to the
    contracts: it may import nothing but ``app_pages`` (which the contracts do cover)."""
    tree = ast.parse((ROOT / "app.py").read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    }
    assert imported == {"app_pages"}


def test_no_module_is_over_600_lines_outside_migrations():
    packages = ["app_pages", "services", "dashboard", "cli", "api", "layers", "gis", "city"]
    long = {
        str(path.relative_to(ROOT)): n
        for package in packages
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts and (n := len(path.read_text().splitlines())) > 600
    }
    assert long == {}
    assert not (ROOT / "layers" / "views.py").exists()
