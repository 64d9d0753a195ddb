"""schemathesis against the app's own OpenAPI document, every operation, three ways: anonymous, as a
signed-in person (session cookie) and as an admin (admin JWT), with data that fits the schema and
data that does not. Every answer must be documented (status, content type, headers, body schema),
none may be a 5xx, and credentials must be enforced where the schema asks for them.

The operations are walked here rather than through `schemathesis.pytest.from_fixture`, whose
lazy loader does not run under pytest 9 (it rewrites `Function._nodeid`, which pytest 9 removed).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.auths import AuthStorage
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import positive_data_acceptance
from support.fuzzing import TALLY, FuzzTarget, examples_per_operation

from api.problems import INVALID_REQUEST

FUZZ_SETTINGS = settings(
    max_examples=examples_per_operation(),
    derandomize=True,  # the same examples every run: a red run is reproducible
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as found, in bounded time
    suppress_health_check=list(HealthCheck),
    print_blob=False,
)
SESSION_ENDING = {("POST", "/api/oauth/revoke"), ("POST", "/api/oauth/erasure"), ("POST", "/auth/logout")}
CALLERS = ["anonymous", "person", "admin"]
AIRFLOW_DOWN = {("POST", "/api/storage/monitoring/control")}
"""The fuzz deployment has no Airflow: these answer its documented 503 (checked: never a 500)."""
UVICORN_REFUSAL = "Invalid HTTP request received."
H11_HEAD_LIMIT = 16 * 1024
"""uvicorn's `h11_max_incomplete_event_size` default: the longest request line plus headers it reads."""
EXCLUDED_CHECKS: list[Any] = [
    # Schema-valid data can still break a rule the schema cannot state (warning < critical, a cursor
    # or sign-in state this server issued, `confirm` must be true): such a 400 carries the rule's
    # own `code`. What must never happen is the schema layer refusing schema-valid data: see
    # `assert_schema_valid_data_passes_the_schema_layer`.
    positive_data_acceptance,
]


class CallerAuth:
    """schemathesis' auth provider for one kind of caller: the credentials are declared as auth, so
    the `ignored_auth` check can take them away and expect a 401."""

    def __init__(self, caller: str, target: FuzzTarget) -> None:
        self.caller = caller
        self.target = target

    def get(self, case: schemathesis.Case, ctx: Any) -> dict[str, str]:
        return self.target.user_cookies() if self.caller == "person" else self.target.admin_headers()

    def set(self, case: schemathesis.Case, data: dict[str, str], ctx: Any) -> None:
        if self.caller == "person":
            case.cookies = {**(case.cookies or {}), **data}
            # an admin route's bearer, generated at random, would hide the session: the person's
            # own credentials alone must get them a 403 there
            case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
        else:
            case.headers = {**(case.headers or {}), **data}


def refused_by_the_http_server(response: Any) -> bool:
    """uvicorn (h11) refuses a request head over its limit with a plain-text 400 before the app
    sees it: only a head that long may get that answer, and then the app's checks do not apply."""
    if response.text != UVICORN_REFUSAL:
        return False
    request = response.request
    head = len(request.method) + len(request.path_url) + sum(len(k) + len(v) + 4 for k, v in request.headers.items())
    assert response.status_code == 400 and head > H11_HEAD_LIMIT - 1024, (head, request.url[:200])
    return True


def assert_schema_valid_data_passes_the_schema_layer(mode: GenerationMode, response: Any) -> None:
    """Data the schema allows is never refused by request validation (`invalid-request`): where it
    is, the document and the validator disagree."""
    if mode is GenerationMode.POSITIVE and response.status_code == 400:
        code = response.json().get("code")
        assert code != INVALID_REQUEST, f"schema-valid data refused by validation: {response.text[:500]}"


def fuzz_operation(
    operation: Any, mode: GenerationMode, caller: str, target: FuzzTarget, path_parameters: dict[str, Any] | None
) -> None:
    auth = AuthStorage(providers=[CallerAuth(caller, target)]) if caller != "anonymous" else None
    key = (operation.method.upper(), operation.path)
    excluded = [*EXCLUDED_CHECKS, *([not_a_server_error] if key in AIRFLOW_DOWN else [])]
    strategy = operation.as_strategy(generation_mode=mode, auth_storage=auth, path_parameters=path_parameters)

    @given(case=strategy)
    @FUZZ_SETTINGS
    def run(case: schemathesis.Case) -> None:
        TALLY.examples[caller] += 1
        response = case.call(allow_redirects=False)
        TALLY.statuses[caller, response.status_code] += 1
        if key in SESSION_ENDING:
            target.user_session_may_have_ended()
        if refused_by_the_http_server(response):
            TALLY.server_refusals += 1
            return
        assert response.status_code != 500, response.text[:500]
        assert_schema_valid_data_passes_the_schema_layer(mode, response)
        case.validate_response(response, excluded_checks=excluded)

    TALLY.operations.add(f"{key[0]} {key[1]}")
    run()


def takes_input(operation: Any) -> bool:
    definition = operation.definition.raw
    return bool(definition.get("parameters") or definition.get("requestBody"))


@pytest.mark.parametrize("caller", CALLERS)
def test_every_operation_answers_as_documented(caller: str, api_schema: Any, fuzz_target: FuzzTarget) -> None:
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 20, "the schema lost operations"
    for operation in operations:
        rounds: list[tuple[GenerationMode, dict[str, Any] | None]] = [(GenerationMode.POSITIVE, None)]
        if takes_input(operation):  # else nothing to get wrong: no parameter, no body
            rounds.append((GenerationMode.NEGATIVE, None))
        if "{account_id}" in operation.path:  # a random id only finds 404s: the person's own account too
            rounds.append((GenerationMode.POSITIVE, {"account_id": str(fuzz_target.account_id)}))
        for mode, path_parameters in rounds:
            try:
                fuzz_operation(operation, mode, caller, fuzz_target, path_parameters)
            except (Exception, BaseExceptionGroup) as failure:  # every operation is fuzzed, all failures told
                known = ", known id" if path_parameters else ""
                failures.append(
                    f"{operation.method.upper()} {operation.path} ({mode.value}{known}): {str(failure)[:3000]}"
                )
    assert not failures, f"{len(failures)} failing operations:\n" + "\n\n".join(failures)


@pytest.mark.parametrize("caller", ["person", "admin"])
def test_linked_sequences_answer_as_documented(caller: str, fuzz_target: FuzzTarget) -> None:
    """Stateful: schemathesis links operations by the ids one answer gives and another takes
    (`account_id`, `session_id`), and runs short sequences of them with the same checks."""
    schema = schemathesis.openapi.from_url(f"{fuzz_target.url}/api/docs/openapi.json")
    schema.auth = AuthStorage(providers=[CallerAuth(caller, fuzz_target)])

    class Sequences(schema.as_state_machine()):  # type: ignore[misc]
        def validate_response(self, response: Any, case: schemathesis.Case, **kwargs: Any) -> None:
            TALLY.examples[f"{caller} (linked)"] += 1
            TALLY.operations.add(f"{case.method.upper()} {case.path}")
            TALLY.statuses[f"{caller} (linked)", response.status_code] += 1
            if (case.method.upper(), case.path) in SESSION_ENDING:
                fuzz_target.user_session_may_have_ended()
            if refused_by_the_http_server(response):
                return
            assert response.status_code != 500, response.text[:500]
            excluded = (
                [*EXCLUDED_CHECKS, not_a_server_error]
                if (case.method.upper(), case.path) in AIRFLOW_DOWN
                else EXCLUDED_CHECKS
            )
            case.validate_response(response, excluded_checks=excluded)

    Sequences.run(
        settings=settings(FUZZ_SETTINGS, max_examples=max(2, examples_per_operation() // 2), stateful_step_count=6)
    )
