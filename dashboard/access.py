"""Which pages each logged-in role gets (what rows it sees is row-level security's job)."""

from __future__ import annotations

PAGE_ROLES: dict[str, frozenset[str]] = {
    "district": frozenset(
        {"operator", "dispatcher", "shift_leader", "handler", "grid_worker", "supervisor", "leader"}
    ),
    "operator": frozenset({"operator", "dispatcher", "shift_leader", "handler", "leader"}),
    "hotline": frozenset({"operator", "shift_leader"}),
    "board": frozenset({"operator", "dispatcher", "shift_leader", "handler", "leader"}),
    "supervisor": frozenset({"supervisor", "grid_worker", "shift_leader", "leader"}),
    "leader": frozenset({"leader", "shift_leader", "supervisor"}),
}
"""Page -> roles that see it. The leader page is rollups of the user's area."""


def pages_for(role: str) -> list[str]:
    """The pages ``role`` may open, in menu order."""
    return [page for page, roles in PAGE_ROLES.items() if role in roles]
