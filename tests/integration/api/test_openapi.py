"""The OpenAPI document served at /api/docs describes every route's answers and who may call it."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import Engine
from support.servers import serve_asgi

from api.app import create_app
from driveguard.config import Settings

PROBLEM = "application/problem+json"
USER_ROUTES = [("get", "/api/oauth/status"), ("post", "/api/oauth/revoke"), ("post", "/api/oauth/erasure")]
ADMIN_ROUTES = [
    ("get", "/api/oauth/detailed-status"),
    ("get", "/api/storage/overview"),
    ("get", "/api/storage/monitoring/status"),
    ("post", "/api/storage/monitoring/configure"),
    ("post", "/api/storage/monitoring/control"),
]


@pytest.fixture(scope="module")
def schema(settings: Settings, engine: Engine) -> dict:
    with serve_asgi(create_app(settings, engine)) as base_url:
        answer = httpx.get(f"{base_url}/api/docs/openapi.json", timeout=10)
    assert answer.status_code == 200
    return answer.json()


def resolve(schema: dict, ref: dict) -> dict:
    return schema["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]] if "$ref" in ref else ref


def success_body(schema: dict, method: str, path: str) -> dict:
    responses = schema["paths"][path][method]["responses"]
    (status,) = [s for s in responses if s.startswith("2")]
    return resolve(schema, responses[status]["content"]["application/json"]["schema"])


def test_security_schemes_are_declared(schema: dict):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["sessionCookie"] == {**schemes["sessionCookie"], "type": "apiKey", "in": "cookie"}
    assert schemes["sessionCookie"]["name"] == "dg_session"
    assert schemes["sessionBearer"]["scheme"] == "bearer"
    assert schemes["adminBearer"]["bearerFormat"] == "JWT"


@pytest.mark.parametrize(("method", "path"), USER_ROUTES + ADMIN_ROUTES)
def test_every_guarded_route_documents_its_body_security_and_problems(schema: dict, method: str, path: str):
    operation = schema["paths"][path][method]
    body = success_body(schema, method, path)
    for shape in [resolve(schema, one) for one in body["oneOf"]] if "oneOf" in body else [body]:
        assert shape.get("type") == "object" and shape.get("properties"), (path, shape)
    responses = operation["responses"]
    assert PROBLEM in responses["401"]["content"]
    if (method, path) in ADMIN_ROUTES:
        assert operation["security"] == [{"adminBearer": []}]
        assert PROBLEM in responses["403"]["content"]
    else:
        assert {"sessionCookie": []} in operation["security"] and {"adminBearer": []} in operation["security"]


def test_problems_routes_can_cause_are_documented(schema: dict):
    control = schema["paths"]["/api/storage/monitoring/control"]["post"]["responses"]
    assert {"400", "409", "503"} <= control.keys()
    assert PROBLEM in control["503"]["content"]
    token = schema["paths"]["/api/auth/token"]["post"]["responses"]
    assert {"200", "400", "401", "403", "429"} <= token.keys()
    problem = schema["components"]["schemas"]["Problem"]
    assert {"type", "title", "status"} <= set(problem["required"])


def test_storage_byte_counts_are_integers(schema: dict):
    overview = success_body(schema, "get", "/api/storage/overview")
    account = resolve(schema, overview["properties"]["accounts"]["items"])
    totals = resolve(schema, overview["properties"]["totals"])

    def types(prop: dict) -> set[str]:
        return {prop["type"]} if "type" in prop else {p["type"] for p in prop["oneOf"]}

    for name in ("usage_bytes", "limit_bytes", "usage_in_drive_bytes", "growth_24h_bytes", "growth_7d_bytes"):
        assert types(account["properties"][name]) <= {"integer", "null"}, name
    assert types(totals["properties"]["usage_bytes"]) == {"integer"}


def test_health_documents_its_report_for_200_and_503(schema: dict):
    responses = schema["paths"]["/api/health"]["get"]["responses"]
    assert {"200", "503"} <= responses.keys()
    assert success_body(schema, "get", "/api/health")["properties"]["checks"]


def operations(schema: dict) -> list[tuple[str, str, dict]]:
    methods = {"get", "post", "put", "patch", "delete"}
    return [(m, p, op) for p, item in schema["paths"].items() for m, op in item.items() if m in methods]


def test_every_operation_that_takes_input_documents_its_400_problem(schema: dict):
    takes_input = [(m, p, op) for m, p, op in operations(schema) if op.get("parameters") or op.get("requestBody")]
    assert len(takes_input) >= 15
    undocumented = [
        (method, path)
        for method, path, operation in takes_input
        if PROBLEM not in operation["responses"].get("400", {}).get("content", {})
    ]
    assert undocumented == []


def test_every_error_answer_is_a_problem_document(schema: dict):
    for method, path, operation in operations(schema):
        for status, response in operation["responses"].items():
            if int(status) >= 400 and path != "/api/health":  # health's 503 is its report, with `status: down`
                assert list(response.get("content", {})) == [PROBLEM], (method, path, status)


def test_bodies_that_refuse_unknown_keys_say_so(schema: dict):
    token = schema["paths"]["/api/auth/token"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert resolve(schema, token)["additionalProperties"] is False
    control = schema["paths"]["/api/storage/monitoring/control"]["post"]["requestBody"]["content"]
    assert resolve(schema, control["application/json"]["schema"])["additionalProperties"] is False
