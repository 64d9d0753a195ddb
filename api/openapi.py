"""The OpenAPI document's shared parts: security schemes, who may call a route, and its error answers.

Each route states its guard kind once through `PUBLIC`, `USER` or `ADMIN` (guards, security
requirements and the 401/403 problems that come with them) and adds the problems its own
input can cause with `problems(...)`.
"""

from __future__ import annotations

from typing import Any

from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Components, Schema, SecurityScheme
from litestar.typing import FieldDefinition

from api.auth.guards import requires_admin, requires_user
from api.docs_page import VendoredSwaggerPage
from api.problems import PROBLEM_JSON, Problem
from driveguard import __version__

SESSION_COOKIE = "sessionCookie"
SESSION_BEARER = "sessionBearer"
ADMIN_BEARER = "adminBearer"

_MEANING = {
    400: "Invalid request: the body, a parameter or a combination of them is wrong",
    401: "No valid credentials (the detail says why)",
    403: "Signed in, but not allowed to do this",
    404: "No such account or session",
    409: "Conflicts with the current state",
    429: "Too many attempts; see Retry-After",
    502: "A dependency (Google, Airflow) refused",
    503: "A dependency (Google, Airflow) is not answering; nothing changed",
}


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """`responses=` entries: an `application/problem+json` document for each status."""
    return {
        status: ResponseSpec(
            data_container=Problem, description=_MEANING[status], media_type=PROBLEM_JSON, generate_examples=False
        )
        for status in statuses
    }


PUBLIC: dict[str, Any] = {"security": [], "responses": {}}
USER: dict[str, Any] = {
    "guards": [requires_user],
    "security": [{SESSION_COOKIE: []}, {SESSION_BEARER: []}, {ADMIN_BEARER: []}],
    "responses": problems(401),
}
ADMIN: dict[str, Any] = {
    "guards": [requires_admin],
    "security": [{ADMIN_BEARER: []}],
    "responses": problems(401, 403),
}


def with_problems(kind: dict[str, Any], *statuses: int) -> dict[str, Any]:
    """A guard kind's route settings plus the problems this route's own input or dependencies cause."""
    return {**kind, "responses": {**kind["responses"], **problems(*statuses)}}


class StrictStructSchemaPlugin(StructSchemaPlugin):
    """A request body declared `forbid_unknown_fields=True` refuses other keys: the schema says so
    (`additionalProperties: false`), so clients and fuzzers know that an extra key is a 400."""

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        if field_definition.type_.__struct_config__.forbid_unknown_fields:
            schema.additional_properties = False
        return schema


def openapi_config(session_cookie: str) -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Driveguard API",
        version=__version__,
        path="/api/docs",
        # Swagger UI's assets come from this process (api/pages/static/vendor), pinned by their
        # hashes and without inline script: the docs render offline under a strict CSP.
        render_plugins=[VendoredSwaggerPage()],
        components=Components(
            security_schemes={
                SESSION_COOKIE: SecurityScheme(
                    type="apiKey",
                    name=session_cookie,
                    security_scheme_in="cookie",
                    description="The session cookie set by Google sign-in (/auth/login).",
                ),
                SESSION_BEARER: SecurityScheme(
                    type="http",
                    scheme="bearer",
                    description="The same session token, sent as Authorization: Bearer <token>.",
                ),
                ADMIN_BEARER: SecurityScheme(
                    type="http",
                    scheme="bearer",
                    bearer_format="JWT",
                    description="A short-lived admin JWT from POST /api/auth/token.",
                ),
            }
        ),
    )
