"""Identity rules the code must keep wherever it moves: what a session row stores, when an
erasure may delete an account, how often queued callers hit a failing token endpoint, and which
browser may finish a sign-in. Real HTTP, real PostgreSQL, the Google emulator."""

from __future__ import annotations

import hashlib
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import text
from support.database import backends_waiting_for_a_lock
from support.emulator import HTML, decide, sign_in, walk_to_google
from support.signin import Stack

from driveguard.backoff import FULL_JITTER, Backoff
from driveguard.db.engine import make_engine
from driveguard.db.models import AccountStatus
from driveguard.identity.tokens import TokenService, TokenUnavailable
from driveguard.storage.retention import Retention

EMAIL = "alice@gmail.com"


def live_tokens_at_google(stack: Stack, email: str) -> int:
    grants = stack.emu.call("GET", f"/grants?email={email}")["grants"]
    return sum(g["refresh_tokens"] + g["live_access_tokens"] for g in grants)


def wait_until(condition, what: str, timeout: float = 20.0) -> None:
    """Poll a condition another thread or process makes true (synchronisation, not a timed wait)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


# -- sessions: only a hash of the token is stored ----------------------------------------------


def test_a_session_row_holds_the_sha256_of_the_token_and_no_part_of_the_token(stack: Stack):
    assert sign_in(stack.browser, stack.url, EMAIL).status_code == 303
    token = stack.session_token()
    with stack.engine.begin() as conn:
        [stored] = conn.execute(text("SELECT token_hash FROM user_session")).scalars().all()
        # A dump of the table as pg_dump would write it, in both bytea output formats.
        dump = []
        for bytea_output in ("hex", "escape"):
            conn.execute(text(f"SET LOCAL bytea_output = '{bytea_output}'"))
            dump += conn.execute(text("SELECT CAST(s AS text) FROM user_session s")).scalars().all()
    assert bytes(stored) == hashlib.sha256(token.encode("ascii")).digest()
    raw = bytes(stored).decode("latin-1")
    pieces = {token[i : i + 16] for i in range(len(token) - 15)}
    leaked = [piece for piece in pieces if any(piece in text_ for text_ in [raw, *dump])]
    assert leaked == [], f"parts of the raw session token are stored: {leaked[:3]}"
    # The stored hash is what finds the session: the cookie still works.
    assert stack.browser.get(f"{stack.url}/api/oauth/status").status_code == 200


# -- erasure: never delete an account whose grant Google has not revoked -----------------------


def test_erasure_waits_while_google_cannot_revoke_the_grant_then_revokes_and_deletes(stack: Stack):
    assert sign_in(stack.browser, stack.url, EMAIL).status_code == 303
    account = stack.account(EMAIL)
    with stack.api(stack.session_token()) as api:
        assert api.post("/api/oauth/erasure", json={"confirm": True}).status_code == 202
    retention = Retention(
        stack.settings,
        stack.engine,
        clock=stack.clock,
        token_service_factory=lambda: stack.token_service(
            backoff=Backoff(max_attempts=2, base_seconds=0.01, jitter=FULL_JITTER)
        ),
    )

    stack.emu.faults({"group": "revoke", "error_rate": 1.0, "error_rate_status": 503})
    deferred = retention.erase_requested_accounts()
    assert (deferred["erasures_deferred"], deferred["accounts_erased"], deferred["grants_revoked"]) == (1, 0, 0)
    kept = stack.account(EMAIL)  # the account and its sealed tokens stay: the grant can still be revoked
    assert kept.id == account.id and kept.erasure_requested_at is not None
    assert kept.refresh_token_ciphertext is not None and kept.status == AccountStatus.ACTIVE
    assert live_tokens_at_google(stack, EMAIL) > 0
    assert stack.emu.stats()["revocations"] == 0

    stack.emu.clear_faults()  # Google answers again: the next cleanup run revokes, then deletes
    done = retention.erase_requested_accounts()
    assert (done["erasures_deferred"], done["accounts_erased"], done["grants_revoked"]) == (0, 1, 1)
    assert stack.counts()["accounts"] == 0
    assert live_tokens_at_google(stack, EMAIL) == 0
    assert stack.emu.stats()["revocations"] == 1


# -- tokens: callers queued behind a refresh that just failed do not call Google again ---------


def test_callers_queued_behind_a_failed_refresh_do_not_each_call_google(stack: Stack):
    account_id = stack.seed_account(EMAIL)
    stack.advance(3600)  # the access token expired on both sides: every caller needs a refresh
    stack.emu.call("POST", "/stats/reset")
    stack.emu.faults({"group": "token", "error_rate": 1.0, "error_rate_status": 503})
    attempts = 3
    callers = 6
    engine = make_engine(stack.engine.url.render_as_string(hide_password=False), pool_size=callers + 2)
    services = [
        TokenService(
            stack.settings,
            engine,
            clock=stack.clock,
            sleep=stack.sleeps,
            backoff=Backoff(max_attempts=attempts, base_seconds=0.01, jitter=FULL_JITTER),
        )
        for _ in range(callers)
    ]
    outcomes: list[object] = []

    def call(service: TokenService) -> object:
        try:
            return service.get_access_token(account_id)
        except TokenUnavailable as exc:
            return exc

    try:
        # Hold the account's row lock (as a refresh in flight would) until every caller has
        # looked at the account and queued for the lock; then let them through.
        with stack.engine.connect() as holder:
            holder_tx = holder.begin()
            holder.execute(text("SELECT 1 FROM google_account WHERE id = :id FOR UPDATE"), {"id": account_id})
            with ThreadPoolExecutor(max_workers=callers) as pool:
                futures = [pool.submit(call, service) for service in services]
                try:
                    wait_until(lambda: backends_waiting_for_a_lock(engine) == callers, "every caller to queue")
                finally:
                    holder_tx.rollback()
                outcomes = [future.result(timeout=60) for future in futures]
    finally:
        for service in services:
            service.close()
        engine.dispose()

    assert all(isinstance(outcome, TokenUnavailable) for outcome in outcomes), outcomes
    # Google saw ONE refresh, not one per queued caller; and a 5xx may come after the provider acted
    # (rotated), so that one refresh is not resent either (an uncertain refresh, retried after a backoff).
    stats = stack.emu.stats()
    assert stats["statuses"]["token"] == {"503": 1}
    assert stack.account(EMAIL).refresh_failure_count == 1


# -- sign-in: only the browser that started it may finish it ----------------------------------


def test_a_callback_carrying_another_browsers_login_cookie_is_refused(stack: Stack):
    # The attacker starts a sign-in and hands the resulting callback URL to the victim, whose
    # browser holds a login cookie of its own (it started a sign-in too).
    attacker = stack.browser
    callback = decide(attacker, walk_to_google(attacker, stack.url), EMAIL)
    with httpx.Client(timeout=30) as victim:
        assert victim.get(f"{stack.url}/auth/login", headers=HTML).status_code == 302
        assert victim.cookies.get("dg_login") not in (None, attacker.cookies.get("dg_login"))
        refused = victim.get(callback, headers={"Accept": "application/json"})
        assert refused.status_code == 400
        assert refused.json()["code"] == "state_mismatch"
        assert "dg_session" not in victim.cookies
    assert stack.counts()["accounts"] == 0 and stack.counts()["sessions"] == 0
    # The refused attempt did not use the state up: the browser that started the sign-in finishes it.
    finished = attacker.get(callback, headers=HTML)
    assert finished.status_code == 303
    assert stack.counts()["accounts"] == 1 and stack.counts()["sessions"] == 1
