"""The dashboard as an ASGI app: ``app.py`` behind GridGov's HTTP guard.

``gridgov serve`` runs ``streamlit run dashboard_server.py``; Streamlit finds ``app``
below and serves ``app.py`` through it, with :class:`dashboard.http_guard.DashboardGuard`
adding security headers and hiding ``/_stcore/metrics``.
"""

from starlette.middleware import Middleware
from streamlit.starlette import App

from dashboard.http_guard import DashboardGuard

app = App("app.py", middleware=[Middleware(DashboardGuard)])
