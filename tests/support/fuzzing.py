"""The API as the fuzz suite (tests/fuzz) drives it: served over real HTTP on its own database, with
a signed-in person and an admin, and a tally of what was tried for the run's summary line."""

from __future__ import annotations

import os
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx

from support.emulator import GoogleEmulator, sign_in
from support.signin import ADMIN_PASSWORD, ADMIN_USER

FUZZ_EXAMPLES_ENV = "DRIVEGUARD_FUZZ_EXAMPLES"
"""Examples per operation and caller (`make fuzz` raises it; `make test` keeps the default)."""
DEFAULT_EXAMPLES = 6
FUZZ_USER = "alice@gmail.com"


def examples_per_operation() -> int:
    return max(1, int(os.environ.get(FUZZ_EXAMPLES_ENV, DEFAULT_EXAMPLES)))


@dataclass
class Tally:
    """What the fuzz suite tried, printed at the end of the run (tests/fuzz/conftest.py)."""

    operations: set[str] = field(default_factory=set)
    examples: Counter[str] = field(default_factory=Counter)
    """Requests sent, per caller kind."""
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    """Answers, per caller kind and status."""
    failures: int = 0
    sign_ins: int = 0
    server_refusals: int = 0
    """Requests uvicorn refused before the app (a head over its size limit)."""

    def summary(self) -> str:
        callers = ", ".join(f"{kind} {count}" for kind, count in sorted(self.examples.items()))
        return (
            f"fuzz: {len(self.operations)} operations, {sum(self.examples.values())} examples generated "
            f"({callers}), {self.sign_ins} sign-ins, {self.server_refusals} heads over uvicorn's limit, "
            f"failures {self.failures}; answers: {self.answers()}"
        )

    def answers(self) -> str:
        kinds = sorted({kind for kind, _ in self.statuses})
        return "; ".join(
            f"{kind} " + " ".join(f"{status}x{n}" for (k, status), n in sorted(self.statuses.items()) if k == kind)
            for kind in kinds
        )


TALLY = Tally()


@dataclass
class FuzzTarget:
    """The served API plus the credentials of its two kinds of signed-in callers."""

    url: str
    emulator: GoogleEmulator
    admin_token: str
    browser: httpx.Client
    session_cookie: str
    account_id: uuid.UUID | None = None
    """The person's account (with seeded history): account routes are fuzzed with it as well."""
    _user_token: str | None = None
    _session_may_have_ended: bool = False

    def user_cookies(self) -> dict[str, str]:
        """The person's session cookie; a fresh sign-in when a fuzzed revoke or erasure ended the last one."""
        if self._user_token is None or not self._session_alive():
            self.browser.cookies.clear()
            answer = sign_in(self.browser, self.url, FUZZ_USER)
            assert answer.status_code == 303, answer.text
            self._user_token = self.browser.cookies.get(self.session_cookie)
            TALLY.sign_ins += 1
        assert self._user_token
        return {self.session_cookie: self._user_token}

    def user_session_may_have_ended(self) -> None:
        """Called after a fuzzed call that can end the session (revoke, erasure, logout)."""
        self._session_may_have_ended = True

    def _session_alive(self) -> bool:
        if not self._session_may_have_ended:
            return True
        self._session_may_have_ended = False
        answer = httpx.get(
            f"{self.url}/api/oauth/status", cookies={self.session_cookie: self._user_token or ""}, timeout=30
        )
        return answer.status_code == 200

    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}


def password_admin_token(url: str) -> str:
    answer = httpx.post(
        f"{url}/api/auth/token",
        json={"grant_type": "password", "username": ADMIN_USER, "password": ADMIN_PASSWORD},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])
