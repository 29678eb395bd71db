"""GridGov dashboard: the entry script Streamlit runs; the router is ``app_pages.main``."""

from app_pages.main import run

run()
