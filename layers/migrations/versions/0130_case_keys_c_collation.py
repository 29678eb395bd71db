"""Case keys compared byte by byte: ``case_keys``' text columns in the "C" collation.

``case_no``, ``source_system`` and ``source_id`` are identifiers: they are matched for
equality (a case number looked up, a source's id found present) and never sorted for a
person to read. Their unique indexes were in the database's collation (``C.UTF-8`` for
GridGov's own server), which PostgreSQL 15 compares with the C library's ``strcoll``
and sorts without abbreviated keys; in "C" it compares bytes. Building the two unique
indexes over 2 million keys took 3.1 s + 5.5 s, and takes 1.7 s + 3.2 s in "C" — a
bulk load into a populated table rebuilds them (``layers.ingest.cases_bulk``).

Equality is the same in both (both collations are deterministic), so no key that was
unique stops being unique; a comparison with a column or value of the database's
collation takes "C" (an implicit non-default collation wins over the default), so the
indexes still serve the loaders' and the API's lookups. The table is not rewritten; its
two unique indexes are rebuilt.

Revision ID: 0130_case_keys_c_collation
Revises: 0125_leader_area
Create Date: 2026-12-03
"""

from alembic import op

revision = "0130_case_keys_c_collation"
down_revision = "0125_leader_area"
branch_labels = None
depends_on = None

COLUMNS = ("case_no", "source_system", "source_id")


def _collate(collation: str) -> None:
    op.execute(
        "ALTER TABLE case_keys "
        + ", ".join(f'ALTER COLUMN {c} TYPE text COLLATE "{collation}"' for c in COLUMNS)
    )


def upgrade() -> None:
    _collate("C")


def downgrade() -> None:
    _collate("default")
