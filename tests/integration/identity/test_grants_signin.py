"""Sign-in with several tabs at once and forged callbacks (issue 15 item 2), over real HTTP against the
emulator with rotation and 60 s tokens: one login state per attempt, all of them finish; a forged or
over-long callback disturbs no genuine attempt and echoes none of the request's credentials; expired
login states go as soon as the next sign-in starts."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select
from support.emulator import HTML, decide, walk_to_google
from support.signin import Stack

from driveguard.db.engine import transaction
from driveguard.db.models import GoogleAccount, OAuthLoginState, UserSession

TAB_A, TAB_B = "carol@gmail.com", "bob@gmail.com"
JSON = {"Accept": "application/json"}


def login_cookie_headers(response: httpx.Response) -> list[str]:
    return [h for h in response.headers.get_list("set-cookie") if h.startswith("dg_login=")]


def test_two_tabs_started_one_after_the_other_both_finish_in_either_order(rotating: Stack):
    stack = rotating
    consent_a = walk_to_google(stack.browser, stack.url, next_path="/me")
    consent_b = walk_to_google(stack.browser, stack.url, next_path="/me")
    assert stack.count(OAuthLoginState) == 2  # one login state per attempt

    finished_a = stack.browser.get(decide(stack.browser, consent_a, TAB_A), headers=HTML)
    assert finished_a.status_code == 303, finished_a.text
    assert login_cookie_headers(finished_a) == []  # tab B's attempt keeps its binding
    finished_b = stack.browser.get(decide(stack.browser, consent_b, TAB_B), headers=HTML)
    assert finished_b.status_code == 303, finished_b.text

    with transaction(stack.engine) as db:
        assert sorted(db.scalars(select(GoogleAccount.email))) == sorted([TAB_A, TAB_B])
        assert db.scalar(select(func.count()).select_from(UserSession)) == 2
        assert db.scalar(select(func.count()).where(OAuthLoginState.consumed_at.is_not(None))) == 2


def test_forged_callbacks_neither_clear_nor_disturb_a_genuine_attempt(rotating: Stack):
    stack = rotating
    consent = walk_to_google(stack.browser, stack.url, next_path="/me")
    callback = decide(stack.browser, consent, TAB_A)
    code = httpx.URL(callback).params["code"]
    forged = [
        {"state": "A" * 43, "code": code},  # unknown state
        {"state": "B" * 43, "code": "forged-code"},
        {"code": code},  # no state
        {"state": "A" * 43, "error": "access_denied"},
    ]
    for query in forged:
        answer = stack.browser.get(f"{stack.url}/auth/callback", params=query, headers=HTML)
        assert answer.status_code in (400, 403), answer.text
        assert login_cookie_headers(answer) == []  # the login cookie is not touched
    assert stack.browser.cookies.get("dg_login")

    genuine = stack.browser.get(callback, headers=HTML)
    assert genuine.status_code == 303, genuine.text
    assert stack.counts()["sessions"] == 1


def test_an_over_long_or_odd_callback_answers_a_problem_that_echoes_no_credential(rotating: Stack):
    stack = rotating
    walk_to_google(stack.browser, stack.url)
    code = "4/0AQlEd8x" + "c" * 60
    cases = [
        {"state": "S" * 5000, "code": code},
        {"state": "S" * 43, "code": code * 80},  # an over-long code
        {"state": "S" * 43, "code": code, "iss": "I" * 5000},
        {"state": "S" * 43, "code": code, "error": "E" * 5000},
    ]
    for query in cases:
        for headers in (JSON, HTML):
            answer = stack.browser.get(f"{stack.url}/auth/callback", params=query, headers=headers)
            assert answer.status_code == 400, answer.text
            assert code not in answer.text and "S" * 43 not in answer.text and "I" * 100 not in answer.text
            assert "E" * 100 not in answer.text
            if headers is JSON:
                assert answer.headers["content-type"].startswith("application/problem+json")
                assert answer.json()["code"] == "state_invalid"


def test_expired_login_states_are_deleted_when_the_next_sign_in_starts(rotating: Stack):
    stack = rotating
    for _ in range(3):
        walk_to_google(stack.browser, stack.url)
    assert stack.count(OAuthLoginState) == 3
    stack.clock.advance(10 * 60 + 1)  # all three expired a second ago
    walk_to_google(stack.browser, stack.url)
    assert stack.count(OAuthLoginState) == 1
