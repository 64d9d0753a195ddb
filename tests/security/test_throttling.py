"""Throttling that cannot be raced: admin passwords (per name and address, per address, per name),
Google sign-in starts and bad callbacks per address; a delay for the real admin, never a lockout;
the address from X-Forwarded-For only behind a trusted proxy."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import select
from support.attacks import Ledger
from support.clock import FakeClock
from support.signin import ADMIN_PASSWORD, ADMIN_USER, Stack

from driveguard.db.engine import transaction
from driveguard.db.models import AuditLog, RequestThrottle
from driveguard.identity.throttle import ADMIN_PASSWORD_PAIR, SIGNIN_CALLBACK, SIGNIN_START


def _post_password(url: str, password: str, headers: dict[str, str] | None = None) -> httpx.Response:
    with httpx.Client(base_url=url, timeout=60) as client:
        body = {"grant_type": "password", "username": ADMIN_USER, "password": password}
        return client.post("/api/auth/token", json=body, headers=headers or {})


def _parallel(count: int, call, *args) -> list[httpx.Response]:
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(lambda _: call(*args), range(count)))


def test_twenty_parallel_wrong_passwords_get_exactly_the_free_tries(frozen_stack: Stack, ledger: Ledger):
    stack = frozen_stack
    answers = _parallel(20, _post_password, stack.url, "a parallel guess")
    statuses = Counter(answer.status_code for answer in answers)
    for answer in answers:
        ledger.attack("throttle race (admin password)", answer.status_code in (401, 429), answer.text)
    ledger.attack("throttle race (admin password)", statuses[401] == ADMIN_PASSWORD_PAIR.free, str(statuses))
    assert statuses == {401: ADMIN_PASSWORD_PAIR.free, 429: 20 - ADMIN_PASSWORD_PAIR.free}
    refused = next(answer for answer in answers if answer.status_code == 429)
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert 1 <= int(refused.headers["retry-after"]) <= ADMIN_PASSWORD_PAIR.max_seconds
    with transaction(stack.engine) as db:
        failures = db.scalars(select(AuditLog).where(AuditLog.action == "admin_login_failed")).all()
    assert len(failures) == ADMIN_PASSWORD_PAIR.free  # only the checked passwords were audited


def test_an_attacker_at_the_admins_address_delays_the_admin_by_a_bounded_time(frozen_stack: Stack, ledger: Ledger):
    stack = frozen_stack
    # The attacker guesses on and on from the admin's own address (a shared NAT).
    waits = []
    for _ in range(16):
        answer = _post_password(stack.url, "an attacker's guess")
        if answer.status_code == 429:
            waits.append(int(answer.headers["retry-after"]))
            stack.clock.advance(int(answer.headers["retry-after"]))
    assert waits and max(waits) <= ADMIN_PASSWORD_PAIR.max_seconds  # the delay grows and is capped
    # The real admin waits at most the cap, then gets in.
    answer = _post_password(stack.url, ADMIN_PASSWORD)
    if answer.status_code == 429:
        assert int(answer.headers["retry-after"]) <= ADMIN_PASSWORD_PAIR.max_seconds
        stack.clock.advance(int(answer.headers["retry-after"]))
        answer = _post_password(stack.url, ADMIN_PASSWORD)
    ledger.attack("admin lockout from a shared address", answer.status_code == 200, answer.text)


def test_parallel_signin_starts_are_throttled_per_address(frozen_stack: Stack, ledger: Ledger):
    stack = frozen_stack

    def start() -> httpx.Response:
        with httpx.Client(timeout=60) as client:
            return client.get(f"{stack.url}/auth/login", headers={"Accept": "application/json"})

    answers = _parallel(SIGNIN_START.free + 10, start)
    statuses = Counter(answer.status_code for answer in answers)
    ledger.attack("sign-in start flood", statuses[302] == SIGNIN_START.free, str(statuses))
    assert statuses == {302: SIGNIN_START.free, 429: 10}
    assert stack.counts()["login_states"] == SIGNIN_START.free
    refused = next(answer for answer in answers if answer.status_code == 429)
    assert int(refused.headers["retry-after"]) >= 1
    # The address may start again once the wait is over: a delay, not a ban.
    stack.clock.advance(int(refused.headers["retry-after"]))
    assert start().status_code == 302
    # Buckets nobody waits on are dropped later on: the table does not grow with every address.
    assert _post_password(stack.url, "one more name and address").status_code == 401  # 3 more buckets
    assert stack.count(RequestThrottle) == 4
    stack.clock.advance(2 * 3600)
    assert start().status_code == 302
    assert stack.count(RequestThrottle) == 1  # only the bucket just taken


def test_bad_callbacks_are_throttled_per_address_and_good_ones_are_not_counted(frozen_stack: Stack, ledger: Ledger):
    stack = frozen_stack

    def forged_callback(n: int) -> httpx.Response:
        with httpx.Client(timeout=60) as client:
            query = {"state": f"forged-state-{n}", "code": f"forged-code-{n}"}
            return client.get(f"{stack.url}/auth/callback", params=query, headers={"Accept": "application/json"})

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(forged_callback, range(SIGNIN_CALLBACK.free + 10)))
    statuses = Counter(answer.status_code for answer in answers)
    ledger.attack("bad callback flood", statuses[429] == 10, str(statuses))
    assert statuses[429] == 10 and statuses[400] == SIGNIN_CALLBACK.free
    refused = next(answer for answer in answers if answer.status_code == 429)
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "forged-code" not in refused.text


def test_forwarded_addresses_count_only_behind_a_trusted_proxy(make_stack, ledger: Ledger):
    # Without TRUSTED_PROXIES, X-Forwarded-For is ignored: rotating it does not escape the throttle.
    stack = make_stack(clock=FakeClock())
    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(
            pool.map(lambda n: _post_password(stack.url, "spoofed", {"X-Forwarded-For": f"203.0.113.{n}"}), range(20))
        )
    statuses = Counter(answer.status_code for answer in answers)
    ledger.attack("X-Forwarded-For spoofing", statuses[429] == 20 - ADMIN_PASSWORD_PAIR.free, str(statuses))
    # Behind a trusted proxy each forwarded client has its own budget, and audit rows name it.
    proxied = make_stack(TRUSTED_PROXIES="127.0.0.1")
    for n in range(3):
        answer = _post_password(proxied.url, "from behind the proxy", {"X-Forwarded-For": f"198.51.100.{n}"})
        assert answer.status_code == 401
    with transaction(proxied.engine) as db:
        addresses = {str(ip) for ip in db.scalars(select(AuditLog.ip_address).where(AuditLog.ip_address.isnot(None)))}
    assert {"198.51.100.0", "198.51.100.1", "198.51.100.2"} <= addresses
