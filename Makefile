# GridGov: two commands do all the set-up on a fresh Debian/Ubuntu machine.
#   make demo   install what is missing, start the local PostGIS, load the demo district,
#               serve the dashboard on http://127.0.0.1:8501 and the API on :8000
#   make test   install what is missing and run every check and test
SHELL := /bin/bash
CALLER_PATH := $(PATH)
export PATH := $(HOME)/.local/bin:$(PATH)
UV ?= uv
PORT ?= 8501
API_PORT ?= 8000

.PHONY: setup demo serve api test lint check-imports typecheck unit bench clean-db help

help:
	@sed -n '2,5p' Makefile

setup:
	@GRIDGOV_CALLER_PATH="$(CALLER_PATH)" scripts/setup.sh

demo: setup
	$(UV) run gridgov db up
	$(UV) run gridgov demo
	@# both servers on loopback, the alert worker beside them; stopping the dashboard
	@# (Ctrl-C) stops the API and the worker too
	$(UV) run gridgov api --port $(API_PORT) & api=$$!; \
	$(UV) run gridgov notify run & notifier=$$!; \
	trap 'kill $$api $$notifier 2>/dev/null' EXIT INT TERM; \
	$(UV) run gridgov serve --port $(PORT)

serve: setup
	$(UV) run gridgov serve --port $(PORT)

api: setup
	$(UV) run gridgov api --port $(API_PORT)

lint:
	$(UV) run ruff check .
	$(UV) run ruff format --check .

check-imports:
	$(UV) run lint-imports

typecheck:
	$(UV) run mypy

test: setup lint check-imports typecheck
	$(UV) run gridgov db up
	$(UV) run pytest

clean-db:
	-$(UV) run gridgov db down
