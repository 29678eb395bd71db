"""One error root with a stable code, and one table from its kind to exit and HTTP codes."""

import importlib
import inspect
import pkgutil

import pytest

import dashboard
import gis
import layers
import services
from gis.errors import KINDS, GridGovError, exit_code, http_status
from layers.workflow import errors as workflow_errors


def _modules():  # type: ignore[no-untyped-def]
    for package in (gis, layers, dashboard, services):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if ".migrations" in info.name:
                continue
            yield importlib.import_module(info.name)


def _error_classes() -> list[type[BaseException]]:
    found = {}
    for module in _modules():
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == module.__name__:
                found[cls.__qualname__, cls.__module__] = cls
    return list(found.values())


def test_every_error_of_the_project_derives_from_the_one_root():
    classes = _error_classes()
    assert len(classes) >= 40  # the workflow's, ingest's, the cluster's, gis', …
    strays = [f"{c.__module__}.{c.__name__}" for c in classes if not issubclass(c, GridGovError)]
    assert strays == []


def test_every_error_has_a_stable_code_and_a_known_kind():
    for cls in _error_classes():
        assert cls.code and cls.code == cls.code.lower() and " " not in cls.code, cls
        assert cls.kind in KINDS, cls


def test_http_status_comes_from_the_one_table():
    # the statuses the API answered with before, now from each error's kind
    expected = {
        workflow_errors.WorkflowError: 400,
        workflow_errors.RoleForbidden: 403,
        workflow_errors.OutsideYourArea: 403,
        workflow_errors.StaleCase: 409,
        workflow_errors.WrongState: 409,
        workflow_errors.CaseNotFound: 404,
        workflow_errors.BadApiKey: 401,
        workflow_errors.StatusGuard: 500,
        workflow_errors.NoRoute: 409,
    }
    for cls, status in expected.items():
        assert http_status(cls("x")) == status == cls("x").http_status
    assert http_status(RuntimeError("not ours")) == 500


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_exits_the_cli_with_its_status(kind):
    error = type("E", (GridGovError,), {"kind": kind, "code": "e"})("boom")
    assert exit_code(error) == KINDS[kind][0]
    assert exit_code(ValueError("not ours")) == 1


def test_an_error_keeps_its_message_and_may_carry_its_own_code():
    error = GridGovError("row 17: latitude 95.2 is outside -90…90", code="bad_latitude")
    assert (error.code, error.message, str(error)) == (
        "bad_latitude",
        "row 17: latitude 95.2 is outside -90…90",
        "row 17: latitude 95.2 is outside -90…90",
    )
