"""Every kind of domain failure has one HTTP status, decided in `api.problems` alone."""

from __future__ import annotations

from typing import Any

import pytest

from api.problems import STATUS_OF, status_for
from driveguard import errors
from driveguard.errors import DriveguardError
from driveguard.identity.login import GoogleRefusedLogin, GoogleUnavailableForLogin, LoginCancelled, LoginRefused
from driveguard.storage.monitoring import ConfigValidationError

HTML = {"Accept": "text/html"}


def all_subclasses(kind: type) -> set[type]:
    found = set(kind.__subclasses__())
    for sub in list(found):
        found |= all_subclasses(sub)
    return found


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.InvalidInput("x"), 400),
        (errors.Unauthenticated("x"), 401),
        (errors.Forbidden("x"), 403),
        (errors.NotFound("x"), 404),
        (errors.Conflict("x"), 409),
        (errors.RateLimited("x", retry_after=900), 429),
        (errors.UpstreamFailed("x"), 502),
        (errors.Unavailable("x", retry_after=30), 503),
        (LoginRefused("state_invalid", "t", "d"), 400),
        (LoginCancelled("access_denied", "t", "d"), 403),
        (GoogleRefusedLogin("google_error", "t", "d"), 502),
        (GoogleUnavailableForLogin("google_unavailable", "t", "d"), 503),
        (ConfigValidationError({"warning_threshold_percent": "must be a number"}), 400),
    ],
)
def test_each_failure_kind_maps_to_its_status(error: errors.DriveguardError, status: int):
    assert status_for(error) == status


def test_every_kind_of_failure_in_the_tree_has_a_status():
    kinds = {k for k in all_subclasses(errors.DriveguardError) if k.__module__ == "driveguard.errors"}
    unmapped = {k.__name__ for k in kinds - {errors.Retryable} if status_for(k.__new__(k)) == 500}
    assert unmapped == set()
    assert set(STATUS_OF) <= kinds


def test_domain_errors_carry_a_code_and_detail_but_no_http_status():
    error = LoginRefused("state_expired", "Sign-in took too long", "Please start the sign-in again.")
    assert (error.code, error.title, error.detail) == ("state_expired", "Sign-in took too long", error.detail)
    assert not hasattr(error, "status")
    assert errors.NotFound("No such account.").code == "not-found"


def page_app() -> Any:
    """The pages' error mapping on a router of failing page routes, as `api.pages` mounts it."""
    from litestar import Litestar, Router, get
    from litestar.exceptions import MethodNotAllowedException, NotFoundException

    from api.pages.web import PAGE_EXCEPTION_HANDLERS, template_config
    from api.problems import domain_error, not_found

    failures = {"expired": errors.Unauthenticated("Your session ended."), "refused": errors.Forbidden("Not yours.")}

    @get("/me/{what:str}")
    async def person(what: str) -> str:
        raise failures[what]

    @get("/admin/{what:str}")
    async def admin(what: str) -> str:
        raise failures[what]

    pages = Router(path="/", route_handlers=[person, admin], exception_handlers=PAGE_EXCEPTION_HANDLERS)
    handlers = {DriveguardError: domain_error, NotFoundException: not_found, MethodNotAllowedException: not_found}
    return Litestar(route_handlers=[pages], template_config=template_config(), exception_handlers=handlers)


def test_an_expired_sign_in_on_a_page_leads_to_sign_in_and_a_refusal_is_a_page():
    from litestar.testing import TestClient

    with TestClient(page_app()) as client:
        person = client.get("/me/expired", headers=HTML, follow_redirects=False)
        assert (person.status_code, person.headers["location"]) == (303, "/")
        admin = client.get("/admin/expired?days=7", headers=HTML, follow_redirects=False)
        assert admin.status_code == 303
        assert admin.headers["location"] == "/admin/login?next=%2Fadmin%2Fexpired%3Fdays%3D7"
        refused = client.get("/admin/refused", headers=HTML)
        assert refused.status_code == 403 and refused.headers["content-type"].startswith("text/html")
        assert "Not yours." in refused.text and "default-src 'self'" in refused.headers["content-security-policy"]
