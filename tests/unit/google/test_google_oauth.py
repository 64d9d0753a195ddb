"""OAuth building blocks: PKCE, the authorization URL, redirect validation, backoff, and how the
client reads Google's token-endpoint answers (the network edge is an httpx MockTransport)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from support.settings import settings_for

from driveguard.backoff import FULL_JITTER, Backoff
from driveguard.config import LOGIN_SCOPES
from driveguard.google.oauth import (
    GoogleOAuthClient,
    GoogleOAuthError,
    InvalidGrant,
    UncertainAnswer,
    pkce_challenge,
)
from driveguard.identity.login import safe_next_path

SETTINGS = settings_for(
    GOOGLE_CLIENT_ID="client.apps.googleusercontent.com",
    GOOGLE_CLIENT_SECRET="shh",
    GOOGLE_REDIRECT_URI="https://dg.example/auth/callback",
)


def test_pkce_s256_matches_rfc_7636_appendix_b():
    assert (
        pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )


def test_authorization_url_carries_every_parameter_google_needs():
    client = GoogleOAuthClient(SETTINGS, httpx.Client())
    url = client.authorization_url(state="s", code_challenge="c" * 43, nonce="n", scopes=LOGIN_SCOPES)
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://accounts.google.com/o/oauth2/v2/auth"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query == {
        "client_id": "client.apps.googleusercontent.com",
        "redirect_uri": "https://dg.example/auth/callback",
        "response_type": "code",
        "scope": "openid email profile https://www.googleapis.com/auth/drive.metadata.readonly",
        "state": "s",
        "access_type": "offline",
        "include_granted_scopes": "true",
        "nonce": "n",
        "code_challenge": "c" * 43,
        "code_challenge_method": "S256",
        "prompt": "consent",
    }
    hinted = client.authorization_url(
        state="s", code_challenge="c", nonce="n", scopes=LOGIN_SCOPES, prompt=None, login_hint="a@b.c"
    )
    assert "prompt=" not in hinted and "login_hint=a%40b.c" in hinted


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/", "/"),
        ("/dashboard?tab=storage#x", None),
        ("/dashboard?tab=storage", "/dashboard?tab=storage"),
        ("//evil.example", None),
        ("/\\evil.example", None),
        ("https://evil.example/", None),
        ("javascript:alert(1)", None),
        ("/ok\r\nSet-Cookie: x", None),
        ("", None),
        (None, None),
        ("/" + "a" * 600, None),
        ("relative/path", None),
    ],
)
def test_next_must_be_a_same_site_relative_path(value, expected):
    assert safe_next_path(value) == expected


def test_backoff_is_capped_exponential_with_full_jitter():
    backoff = Backoff(max_attempts=6, base_seconds=0.5, cap_seconds=4, jitter=FULL_JITTER)
    assert [backoff.delay(n, lambda: 1.0) for n in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert backoff.delay(3, lambda: 0.0) == 0.0
    assert backoff.delay(0, lambda: 0.0, retry_after=2) == 2  # Retry-After is a floor...
    assert backoff.delay(0, lambda: 0.0, retry_after=60) == 4  # ...within the cap


def client_answering(*answers: httpx.Response | Exception, sleeps: list[float]) -> GoogleOAuthClient:
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    http = httpx.Client(transport=httpx.MockTransport(handler))
    return GoogleOAuthClient(SETTINGS, http, backoff=Backoff(max_attempts=3), sleep=sleeps.append, rng=lambda: 0.5)


def test_token_errors_are_classified_without_echoing_secrets():
    sleeps: list[float] = []
    client = client_answering(
        httpx.Response(400, json={"error": "invalid_grant", "error_description": "Token has been expired or revoked."}),
        httpx.Response(401, json={"error": "invalid_client", "error_description": "Unauthorized"}),
        sleeps=sleeps,
    )
    with pytest.raises(InvalidGrant) as dead:
        client.refresh("1//0g-secret-refresh")
    assert "1//0g-secret-refresh" not in str(dead.value) and dead.value.status == 400
    with pytest.raises(GoogleOAuthError) as unknown_client:
        client.refresh("1//0g-secret-refresh")
    assert unknown_client.value.error == "invalid_client" and "shh" not in str(unknown_client.value)
    assert sleeps == []  # neither is retried


def test_a_refresh_is_resent_only_when_the_request_never_left_and_an_answer_lost_on_the_way_is_uncertain():
    """Under refresh-token rotation the provider may have consumed the token before the answer was
    lost (read timeout, 5xx): resending it would revoke the grant, so that is UncertainAnswer at once."""
    sleeps: list[float] = []
    client = client_answering(
        httpx.ConnectError("refused"),  # nothing was sent: safe to send again
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.Response(200, json={"access_token": "ya29.never-asked", "expires_in": 3599}),
        sleeps=sleeps,
    )
    with pytest.raises(UncertainAnswer) as failure:
        client.refresh("1//0g-secret")
    assert failure.value.error == "timeout" and len(sleeps) == 2

    sleeps.clear()
    client = client_answering(httpx.Response(502, text="<html>bad gateway</html>"), sleeps=sleeps)
    with pytest.raises(UncertainAnswer) as failure:
        client.refresh("1//0g-secret")
    assert failure.value.status == 502 and sleeps == []


def test_a_success_without_a_usable_token_is_an_error_not_a_crash():
    sleeps: list[float] = []
    client = client_answering(
        httpx.Response(200, text="not json"),
        httpx.Response(200, json={"access_token": "", "expires_in": 3599}),
        httpx.Response(200, json={"access_token": "ya29.x", "expires_in": "soon"}),
        sleeps=sleeps,
    )
    for _ in range(3):
        with pytest.raises(GoogleOAuthError, match="malformed_response"):
            client.refresh("1//0g")


def test_token_response_keeps_secrets_out_of_its_repr():
    sleeps: list[float] = []
    client = client_answering(
        httpx.Response(
            200,
            json={
                "access_token": "ya29.visible?",
                "expires_in": 3599,
                "refresh_token": "1//0g-visible?",
                "scope": "openid email",
                "token_type": "Bearer",
                "id_token": "eyJ.visible?",
            },
        ),
        sleeps=sleeps,
    )
    answer = client.refresh("1//0g")
    assert answer.scopes == ("openid", "email") and answer.refresh_token == "1//0g-visible?"
    assert "visible" not in repr(answer)
