"""Property-based API test: schemathesis against the API's own OpenAPI spec — no server errors.

Every operation of ``/openapi.json`` gets generated requests (valid and
invalid: schemathesis's positive and negative modes); none may answer 5xx.
The operations are driven by hand with ``@given`` because schemathesis's
pytest plugin (``from_fixture``) does not run on this pytest version.
"""

import os

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

EXAMPLES = int(os.environ.get("GRIDGOV_SCHEMATHESIS_EXAMPLES", "40"))
STATUSES: set[int] = set()


def test_no_server_errors(base_url, api_key):
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    # Open311 and the residents' app (the field API, behind device tokens, has its own
    # tests: tests/api/test_field*.py)
    operations = [
        o
        for o in (result.ok() for result in schema.get_all_operations())
        if not o.path.startswith(("/field/", "/osmand"))
    ]
    assert len([o for o in operations if o.path.startswith("/open311/")]) == 5
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    for operation, mode in [(o, m) for o in operations for m in modes]:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case):  # type: ignore[no-untyped-def]
            if isinstance(case.body, dict) and "api_key" in case.body:
                case.body["api_key"] = api_key  # past authentication into validation and SQL
            response = case.call_and_validate(checks=[not_a_server_error])
            STATUSES.add(response.status_code)

        try:
            check()
        except Unsatisfiable:
            # an operation without parameters (e.g. GET /report/api/kinds) has no invalid form
            if mode is not GenerationMode.NEGATIVE:
                raise
    assert {200, 400, 404} <= STATUSES  # successes and refusals were both reached
