"""The soak's load process: people and admins using the API over real HTTP, in its own process so the
latencies it measures are the API's and not this test's Airflow runs competing for the same interpreter.

`python load.py <plan.json>`. Phase 1 signs every person in once (their first sign-in creates their
account) and then writes `ready` in the plan's folder; phase 2 keeps each person's thread busy until
`stop` appears there (or the hard deadline passes: the run always ends by itself): sign in again (a
new session), change preferences, revoke one of their sessions, and read (own status and preferences;
admin account list, overview and per-email status). Each person belongs to one thread, so the last
acknowledged preference change is that person's final value. The result (every operation's kind and
latency, every session token issued and whether it was revoked, every person's final preferences, and
every error) is written to `result.json` for the test to check against the database.
"""

from __future__ import annotations

import itertools
import json
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
from support.emulator import sign_in

ADDRESSES = itertools.count(1)


def next_address() -> str:
    """A client address of its own for each browser and admin, sent as X-Forwarded-For (the API trusts
    127.0.0.1 as its proxy): the per-address throttles see many people, as behind a real proxy."""
    n = next(ADDRESSES)  # itertools.count is atomic under the GIL
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


READS = ("status", "my_preferences", "admin_accounts", "admin_overview", "admin_status_by_email")


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: list[str] = []

    def timed(self, kind: str, call: Any, *expected: int) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            answer = call()
        except Exception as exc:  # a timeout or a dropped connection is an error of the run, not a crash
            self.error(f"{kind}: {type(exc).__name__}: {exc}")
            return None
        elapsed = (time.perf_counter() - started) * 1000
        with self.lock:
            self.latencies[kind].append(elapsed)
        if answer.status_code not in expected:
            self.error(f"{kind}: HTTP {answer.status_code} {answer.text[:300]}")
            return None
        return answer

    def error(self, text: str) -> None:
        with self.lock:
            self.errors.append(text)


def session_token(browser: httpx.Client) -> str | None:
    """The session cookie's value, whatever its prefix (`__Host-` on https)."""
    return next((c.value for c in browser.cookies.jar if c.name.endswith("dg_session")), None)


class Person:
    def __init__(self, email: str, api: str) -> None:
        self.email = email
        self.api = api
        self.browsers: list[httpx.Client] = []
        self.sessions: list[dict[str, Any]] = []
        self.preferences: list[float] | None = None
        self.changes = 0

    def sign_in(self, rec: Recorder) -> None:
        browser = httpx.Client(timeout=30, headers={"X-Forwarded-For": next_address()})
        started = time.perf_counter()
        try:
            callback = sign_in(browser, self.api, self.email)
        except Exception as exc:
            rec.error(f"sign_in {self.email}: {type(exc).__name__}: {exc}")
            browser.close()
            return
        with rec.lock:
            rec.latencies["sign_in"].append((time.perf_counter() - started) * 1000)
        token = session_token(browser)
        if callback.status_code != 303 or token is None:
            rec.error(f"sign_in {self.email}: HTTP {callback.status_code} {callback.text[:300]}")
            browser.close()
            return
        self.browsers.append(browser)
        self.sessions.append({"email": self.email, "token": token, "revoked": False})

    def change_preferences(self, rec: Recorder) -> None:
        if not self.browsers:
            return
        self.changes += 1
        wanted = [50.0 + self.changes % 20, 80.0 + self.changes % 10]
        body = {"warning_threshold_percent": wanted[0], "critical_threshold_percent": wanted[1]}
        browser = self.browsers[-1]
        answer = rec.timed(
            "preferences_change", lambda: browser.put(f"{self.api}/api/storage/me/preferences", json=body), 200
        )
        if answer is not None:
            got = answer.json()
            if [got["warning_threshold_percent"], got["critical_threshold_percent"]] != wanted:
                rec.error(f"preferences_change {self.email}: answered {got}, sent {body}")
            self.preferences = wanted

    def revoke_one(self, rec: Recorder) -> None:
        """End the oldest open session from its own browser (the person keeps at least one)."""
        if len(self.browsers) < 2:
            return
        browser = self.browsers.pop(0)
        session = next((s for s in self.sessions if not s["revoked"] and s["token"] == session_token(browser)), None)
        if session is None:
            rec.error(f"revocation {self.email}: the browser's session cookie changed since sign-in")
            browser.close()
            return
        answer = rec.timed(
            "revocation",
            lambda: browser.post(f"{self.api}/api/oauth/revoke", json={"target": "session", "confirm": True}),
            200,
        )
        if answer is not None:
            if answer.json()["sessions_revoked"] != 1:
                rec.error(f"revocation {self.email}: {answer.text[:300]}")
            session["revoked"] = True
        browser.close()

    def read(self, rec: Recorder, step: int) -> None:
        browser = self.browsers[-1] if self.browsers else None
        if browser is None:
            return
        if step % 2:
            rec.timed("status", lambda: browser.get(f"{self.api}/api/oauth/status"), 200)
        else:
            rec.timed("my_preferences", lambda: browser.get(f"{self.api}/api/storage/me/preferences"), 200)


class Admin:
    def __init__(self, api: str, username: str, password: str) -> None:
        self.client = httpx.Client(
            base_url=api, timeout=30, headers={"Accept": "application/json", "X-Forwarded-For": next_address()}
        )
        self.username, self.password = username, password
        self.token_at = 0.0

    def ensure_token(self, rec: Recorder) -> None:
        if time.monotonic() - self.token_at < 300:  # well inside the 15-minute JWT
            return
        body = {"grant_type": "password", "username": self.username, "password": self.password}
        answer = rec.timed("admin_token", lambda: self.client.post("/api/auth/token", json=body), 200)
        if answer is not None:
            self.client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
            self.token_at = time.monotonic()

    def read(self, rec: Recorder, step: int, email: str) -> None:
        self.ensure_token(rec)
        kind = ("admin_accounts", "admin_overview", "admin_status_by_email")[step % 3]
        if kind == "admin_accounts":
            rec.timed(kind, lambda: self.client.get("/api/storage/accounts", params={"limit": 50}), 200)
        elif kind == "admin_overview":
            rec.timed(kind, lambda: self.client.get("/api/storage/overview", params={"limit": 50}), 200)
        else:
            rec.timed(kind, lambda: self.client.get("/api/oauth/detailed-status", params={"email": email}), 200)


# One person's turn: a new session, two preference changes, one revocation (of an older session),
# and reads, theirs and an admin's.
CYCLE = (
    "sign_in",
    "read",
    "admin",
    "preferences",
    "read",
    "admin",
    "read",
    "revoke",
    "read",
    "preferences",
    "admin",
    "read",
)


def person_loop(people: list[Person], admin: Admin, rec: Recorder, plan: dict[str, Any], stop: Path) -> None:
    """One thread's share of people, each in turn through CYCLE, until `stop`. A short pause between
    operations paces the load (a steady soak, not a saturation benchmark: on a 2-core machine an
    unpaced client would starve the pipelines the soak runs beside it)."""
    step = 0
    deadline = time.monotonic() + plan["max_seconds"]
    while not stop.exists() and time.monotonic() < deadline:
        time.sleep(plan["pause_seconds"])
        person = people[(step // len(CYCLE)) % len(people)]
        move = CYCLE[step % len(CYCLE)]
        if move == "sign_in":
            person.sign_in(rec)
        elif move == "preferences":
            person.change_preferences(rec)
        elif move == "revoke":
            person.revoke_one(rec)
        elif move == "admin":
            admin.read(rec, step // len(CYCLE) + step, person.email)
        else:
            person.read(rec, step)
        step += 1


def main(plan_path: str) -> int:
    plan = json.loads(Path(plan_path).read_text())
    folder = Path(plan_path).parent
    stop = folder / "stop"
    rec = Recorder()
    people = [Person(email, plan["api"]) for email in plan["people"]]
    threads = plan["threads"]
    shares = [people[i::threads] for i in range(threads)]

    # Phase 1: every person's first sign-in (their account), in parallel.
    first = [threading.Thread(target=lambda share=share: [p.sign_in(rec) for p in share]) for share in shares]
    for thread in first:
        thread.start()
    for thread in first:
        thread.join()
    (folder / "ready").write_text("ready")

    admins = [Admin(plan["api"], plan["admin_user"], plan["admin_password"]) for _ in shares]
    workers = [
        threading.Thread(target=person_loop, args=(share, admin, rec, plan, stop))
        for share, admin in zip(shares, admins, strict=True)
    ]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    for person in people:
        for browser in person.browsers:
            browser.close()
    result = {
        "latencies": rec.latencies,
        "errors": rec.errors,
        "sessions": [s for p in people for s in p.sessions],
        "preferences": {p.email: p.preferences for p in people if p.preferences is not None},
        "stopped_by": "stop" if stop.exists() else "deadline",
    }
    (folder / "result.json").write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
