"""The closed loop: case lifecycle, dispatch, deadlines, duplicates, roles and access.

The database enforces the lifecycle (migration 0002: ``case_transitions``,
``case_transition()``, ``case_report()``, row-level security); these modules
are the Python face of it, used by the API and the CLI.

- :mod:`~layers.workflow.states` — statuses, roles and legal transitions (mirror of the table)
- :mod:`~layers.workflow.transitions` — take an action on a case
- :mod:`~layers.workflow.dispatch` — routing rules, joint handling, deadlines
- :mod:`~layers.workflow.calendar` — working hours, holidays, remaining time, escalation
- :mod:`~layers.workflow.duplicates` — find and merge duplicate reports
- :mod:`~layers.workflow.access` — act as a role, reporters masked/unmasked, API keys
- :mod:`~layers.workflow.cases_api` — report a case, Open311 queries
- :mod:`~layers.workflow.errors` — error classes with stable codes
"""
