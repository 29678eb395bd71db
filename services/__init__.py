"""The service layer: one read model or command per question a front door asks.

Every front door — the Streamlit pages, the CLI, the Open311 API and the web apps
to come — calls these instead of ``layers``: read models return typed records
(dataclasses, or frames for tables and maps), commands do every write, and each
opens exactly one :func:`services.uow.unit_of_work` that takes the user's role
and area so that PostgreSQL row-level security decides what is seen.
SQL stays in ``layers``; nothing here imports Streamlit or the drawing kit.
"""
