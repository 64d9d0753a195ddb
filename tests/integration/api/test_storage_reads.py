"""The storage read API over real HTTP and PostgreSQL: `/api/storage/me`, the admin's account list
(sort, filter, keyset pages), an account's history at each resolution and its alerts, with who may
read what and a problem for every bad input.

The data goes in through the product's write paths (the collector's snapshot upsert, the read
model's refresh); people are signed in with real sessions, admins with a real admin token.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import Engine, text
from support.clock import FakeClock
from support.servers import serve_asgi
from support.signin import ADMIN_HASH, ADMIN_PASSWORD, ADMIN_USER
from support.storage_seed import (
    add_account,
    refresh_read_model,
    session_token,
    set_level,
    set_thresholds,
    write_snapshots,
)

from api.app import create_app
from driveguard.config import Settings, load_settings
from driveguard.identity.vault import Vault
from driveguard.storage.interval import Interval
from driveguard.storage.targets import seal_outbox_target

GIB = 1024**3
MIB = 1024**2
NOW = dt.datetime(2031, 3, 15, 12, 0, tzinfo=dt.UTC)
LAST = Interval(NOW - dt.timedelta(hours=1), NOW)
HOUR = dt.timedelta(hours=1)


@dataclass
class World:
    url: str
    settings: Settings
    engine: Engine
    clock: FakeClock
    admin: httpx.Client
    ids: dict[str, uuid.UUID]

    def as_person(self, name: str) -> httpx.Client:
        token = session_token(self.settings, self.engine, self.ids[name], self.clock)
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def seed(engine: Engine) -> dict[str, uuid.UUID]:
    """ann: 72 hours of steady growth to 90 % (critical; her own thresholds 85/95) and one downsampled
    day in February; bob: half full, his grant needs re-consent; cid: 85 % of 10,000 MiB, with three
    20-minute snapshots in one hour (warning); dan: unlimited; eve: signed in, nothing collected yet;
    fay: half full like bob."""
    ids = {
        "ann": add_account(engine, "ann@alpha.example"),
        "bob": add_account(engine, "bob@bravo.example", status="reauth_required"),
        "cid": add_account(engine, "cid@charlie.example"),
        "dan": add_account(engine, "dan@delta.example"),
        "eve": add_account(engine, "eve@echo.example"),
        "fay": add_account(engine, "fay@foxtrot.example"),
    }
    feb = dt.datetime(2031, 2, 1, tzinfo=dt.UTC)
    write_snapshots(
        engine, Interval(feb, feb + dt.timedelta(days=1)), [(ids["ann"], 60 * GIB, 100 * GIB)], granularity="daily"
    )
    for h in range(72):
        start = NOW - dt.timedelta(hours=72) + h * HOUR
        write_snapshots(engine, Interval(start, start + HOUR), [(ids["ann"], 72 * GIB + (h + 1) * GIB // 4, 100 * GIB)])
    ten = NOW - 2 * HOUR
    for minutes, used in ((0, 8100), (20, 8300), (40, 8200)):
        start = ten + dt.timedelta(minutes=minutes)
        write_snapshots(
            engine, Interval(start, start + dt.timedelta(minutes=20)), [(ids["cid"], used * MIB, 10_000 * MIB)]
        )
    write_snapshots(
        engine,
        LAST,
        [
            (ids["bob"], 50 * GIB, 100 * GIB),
            (ids["cid"], 8500 * MIB, 10_000 * MIB),
            (ids["dan"], 500 * GIB, None),
            (ids["fay"], 50 * GIB, 100 * GIB),
        ],
    )
    set_level(engine, ids["ann"], "critical", NOW)
    set_level(engine, ids["cid"], "warning", NOW)
    set_thresholds(engine, ids["ann"], 85, 95)
    refresh_read_model(engine, LAST)
    return ids


@pytest.fixture
def world(base_env: dict[str, str], clean_db: Engine) -> Iterator[World]:
    clock = FakeClock(NOW)
    settings = load_settings({**base_env, "DRIVEGUARD_ADMIN_USERS": f"{ADMIN_USER}:{ADMIN_HASH}"}, env_file="/dev/null")
    ids = seed(clean_db)
    with serve_asgi(create_app(settings, clean_db, clock=clock)) as url:
        answer = httpx.post(
            f"{url}/api/auth/token",
            json={"grant_type": "password", "username": ADMIN_USER, "password": ADMIN_PASSWORD},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
        with httpx.Client(base_url=url, headers=headers, timeout=30) as admin:
            yield World(url, settings, clean_db, clock, admin, ids)


def by_id(world: World, names: list[str], *, reverse: bool) -> list[str]:
    return sorted(names, key=lambda name: world.ids[name], reverse=reverse)


def walk(world: World, limit: int, **params: object) -> tuple[list[str], list[list[str]]]:
    """Every page of the list; the emails' first names in order, and the pages as they came."""
    names = {v: k for k, v in world.ids.items()}
    pages: list[list[str]] = []
    cursor = None
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        answer = world.admin.get("/api/storage/accounts", params=query)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        pages.append([names[uuid.UUID(item["account_id"])] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert len(pages) < 20
    return [name for page in pages for name in page], pages


# -- the account list ------------------------------------------------------------------------------


def test_the_list_pages_fullest_first_with_accounts_without_a_percentage_last(world: World):
    order, pages = walk(world, 2)
    expected = ["ann", "cid", *by_id(world, ["bob", "fay"], reverse=True), *by_id(world, ["dan", "eve"], reverse=True)]
    assert order == expected
    assert [len(page) for page in pages] == [2, 2, 2]


def test_a_row_carries_the_latest_usage_with_integer_bytes(world: World):
    body = world.admin.get("/api/storage/accounts", params={"limit": 1}).json()
    assert body["sort"] == "usage_percent" and body["direction"] == "desc" and body["limit"] == 1
    assert body["items"] == [
        {
            "account_id": str(world.ids["ann"]),
            "email": "ann@alpha.example",
            "account_status": "active",
            "used_bytes": 90 * GIB,
            "limit_bytes": 100 * GIB,
            "usage_percent": 90.0,
            "level": "critical",
            "collected_at": "2031-03-15T12:00:00Z",
            "growth_24h_bytes": 6 * GIB,
            "growth_7d_bytes": 30 * GIB,  # the downsampled February day is the newest a week back
        }
    ]
    eve = world.admin.get("/api/storage/accounts", params={"sort": "email", "search": "eve@"}).json()["items"]
    assert [(r["email"], r["used_bytes"], r["level"], r["collected_at"]) for r in eve] == [
        ("eve@echo.example", None, None, None)
    ]


@pytest.mark.parametrize("limit", [1, 4, 500])
def test_ascending_usage_pages_the_same_rows_at_any_page_size(world: World, limit: int):
    order, _ = walk(world, limit, direction="asc")
    assert order == [
        *by_id(world, ["bob", "fay"], reverse=False),
        "cid",
        "ann",
        *by_id(world, ["dan", "eve"], reverse=False),
    ]


def test_sorting_by_used_bytes_email_and_last_collection(world: World):
    assert walk(world, 3, sort="used_bytes")[0] == [
        "dan",
        "ann",
        *by_id(world, ["bob", "fay"], reverse=True),
        "cid",
        "eve",
    ]
    assert walk(world, 4, sort="email", direction="asc")[0] == ["ann", "bob", "cid", "dan", "eve", "fay"]
    assert walk(world, 4, sort="email", direction="desc")[0] == ["fay", "eve", "dan", "cid", "bob", "ann"]
    collected = ["ann", "bob", "cid", "dan", "fay"]  # the same interval: ties go by account id
    assert walk(world, 2, sort="last_collected", direction="asc")[0] == [*by_id(world, collected, reverse=False), "eve"]


def test_filters_by_level_status_and_email(world: World):
    assert walk(world, 10, level="critical")[0] == ["ann"]
    assert walk(world, 10, level="warning")[0] == ["cid"]
    assert walk(world, 1, level="normal")[0] == [*by_id(world, ["bob", "fay"], reverse=True), "dan"]
    assert walk(world, 10, status="reauth_required")[0] == ["bob"]
    assert walk(world, 10, status="revoked")[0] == []
    assert walk(world, 10, status="active", level="normal", sort="email", direction="asc")[0] == ["dan", "fay"]
    assert walk(world, 10, search="ALPHA")[0] == ["ann"]
    assert walk(world, 10, search="o.ex", sort="email", direction="asc")[0] == ["bob", "eve"]  # anywhere in the address
    assert walk(world, 10, search="%")[0] == []  # LIKE wildcards are plain characters
    assert walk(world, 10, search="_")[0] == []


@pytest.mark.parametrize(
    "params",
    [
        {"sort": "size"},
        {"direction": "up"},
        {"level": "red"},
        {"status": "sleeping"},
        {"limit": 0},
        {"limit": 501},
        {"limit": "many"},
        {"cursor": "not-a-cursor"},
        {"cursor": "WyJhY2NvdW50cyJd"},  # valid base64 JSON, but not a list position
        {"search": "x" * 321},
    ],
)
def test_bad_list_parameters_are_problems(world: World, params: dict[str, object]):
    answer = world.admin.get("/api/storage/accounts", params=params)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["status"] == 400


def test_a_cursor_only_continues_the_order_it_came_from(world: World):
    cursor = world.admin.get("/api/storage/accounts", params={"limit": 2}).json()["next_cursor"]
    answer = world.admin.get("/api/storage/accounts", params={"limit": 2, "cursor": cursor, "sort": "email"})
    assert answer.status_code == 400
    assert answer.json()["code"] == "invalid-cursor"


def cursor_of(*payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("sort", "payload"),
    [
        ("usage_percent", ("accounts", "usage_percent", "desc", "90", str(uuid.UUID(int=1)))),  # a string percent
        ("usage_percent", ("accounts", "usage_percent", "desc", 1.5, "not-a-uuid")),
        ("email", ("accounts", "email", "desc", None, str(uuid.UUID(int=1)))),  # emails are never null
        ("used_bytes", ("accounts", "used_bytes", "desc", True, str(uuid.UUID(int=1)))),
        ("last_collected", ("accounts", "last_collected", "desc", "noon", str(uuid.UUID(int=1)))),
        ("usage_percent", ("alerts", "2031-03-15T12:00:00+00:00", str(uuid.UUID(int=1)))),  # another list's cursor
    ],
)
def test_tampered_cursors_are_refused(world: World, sort: str, payload: tuple[object, ...]):
    answer = world.admin.get("/api/storage/accounts", params={"sort": sort, "cursor": cursor_of(*payload)})
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "invalid-cursor"


def test_the_list_is_for_admins_only(world: World):
    with world.as_person("ann") as ann:
        answer = ann.get("/api/storage/accounts")
    assert answer.status_code == 403
    assert answer.json()["code"] == "admin-required"


# -- history ---------------------------------------------------------------------------------------


def test_daily_history_closes_each_day_with_its_last_snapshot(world: World):
    answer = world.admin.get(
        f"/api/storage/accounts/{world.ids['ann']}/history",
        params={"from": "2031-02-01", "to": "2031-03-16", "resolution": "daily"},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["resolution"], body["from"], body["to"]) == ("daily", "2031-02-01T00:00:00Z", "2031-03-16T00:00:00Z")
    points = [
        (p["at"][:10], p["used_bytes"], p["min_used_bytes"], p["max_used_bytes"], p["samples"]) for p in body["points"]
    ]
    q = GIB // 4
    assert points == [
        ("2031-02-01", 60 * GIB, 60 * GIB, 60 * GIB, 1),  # a downsampled day: one row
        ("2031-03-12", 75 * GIB, 72 * GIB + q, 75 * GIB, 12),  # from 12:00 on
        ("2031-03-13", 81 * GIB, 75 * GIB + q, 81 * GIB, 24),
        ("2031-03-14", 87 * GIB, 81 * GIB + q, 87 * GIB, 24),
        ("2031-03-15", 90 * GIB, 87 * GIB + q, 90 * GIB, 12),
    ]
    assert {p["limit_bytes"] for p in body["points"]} == {100 * GIB}


def test_hourly_and_raw_history_of_sub_hourly_snapshots(world: World):
    path = f"/api/storage/accounts/{world.ids['cid']}/history"
    window = {"from": "2031-03-15T10:00:00Z", "to": "2031-03-15T12:00:00+00:00"}
    hourly = world.admin.get(path, params={**window, "resolution": "hourly"}).json()["points"]
    assert [(p["at"], p["used_bytes"], p["min_used_bytes"], p["max_used_bytes"], p["samples"]) for p in hourly] == [
        ("2031-03-15T10:00:00Z", 8200 * MIB, 8100 * MIB, 8300 * MIB, 3),  # closes with 10:40-11:00
        ("2031-03-15T11:00:00Z", 8500 * MIB, 8500 * MIB, 8500 * MIB, 1),
    ]
    raw = world.admin.get(path, params={**window, "resolution": "raw"}).json()["points"]
    assert [(p["at"][11:16], p["used_bytes"] // MIB, p["samples"]) for p in raw] == [
        ("10:00", 8100, 1), ("10:20", 8300, 1), ("10:40", 8200, 1), ("11:00", 8500, 1),
    ]  # fmt: skip
    # A zone-less time is UTC; `to` is exclusive.
    one = world.admin.get(
        path, params={"from": "2031-03-15T10:20:00", "to": "2031-03-15T10:40:00", "resolution": "raw"}
    )
    assert [p["at"] for p in one.json()["points"]] == ["2031-03-15T10:20:00Z"]


def test_history_defaults_to_the_range_before_now(world: World):
    body = world.admin.get(f"/api/storage/accounts/{world.ids['ann']}/history", params={"resolution": "hourly"}).json()
    assert (body["from"], body["to"]) == ("2031-03-08T12:00:00Z", "2031-03-15T12:00:00Z")
    assert len(body["points"]) == 72


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"resolution": "weekly"}, None),
        ({"from": "yesterday"}, "invalid-date"),
        ({"to": "2031-02-30"}, "invalid-date"),
        ({"from": "2031-03-10", "to": "2031-03-10"}, "invalid-range"),
        ({"from": "2031-03-10", "to": "2031-03-01"}, "invalid-range"),
        ({"from": "2031-01-01", "to": "2031-03-01", "resolution": "raw"}, "range-too-long"),
        ({"from": "2027-01-01", "to": "2031-03-01", "resolution": "daily"}, "range-too-long"),
    ],
)
def test_bad_history_parameters_are_problems(world: World, params: dict[str, str], code: str | None):
    answer = world.admin.get(f"/api/storage/accounts/{world.ids['ann']}/history", params=params)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    if code:
        assert answer.json()["code"] == code


def test_people_read_their_own_history_only(world: World):
    with world.as_person("ann") as ann:
        own = ann.get(f"/api/storage/accounts/{world.ids['ann']}/history", params={"resolution": "hourly"})
        other = ann.get(f"/api/storage/accounts/{world.ids['bob']}/history")
        unknown = ann.get(f"/api/storage/accounts/{uuid.uuid4()}/history")
    assert own.status_code == 200 and len(own.json()["points"]) == 72
    assert other.status_code == 403 and other.json()["code"] == "not-your-account"
    assert unknown.status_code == 403  # no hint whether someone else's account exists
    assert world.admin.get(f"/api/storage/accounts/{world.ids['bob']}/history").status_code == 200
    missing = world.admin.get(f"/api/storage/accounts/{uuid.uuid4()}/history")
    assert missing.status_code == 404 and missing.json()["code"] == "account-not-found"
    assert httpx.get(f"{world.url}/api/storage/accounts/{world.ids['ann']}/history").status_code == 401


# -- /me -------------------------------------------------------------------------------------------


def test_me_shows_usage_thresholds_history_and_forecast(world: World):
    with world.as_person("ann") as ann:
        answer = ann.get("/api/storage/me")
    assert answer.status_code == 200, answer.text
    me = answer.json()
    assert (me["account_id"], me["email"], me["account_status"]) == (
        str(world.ids["ann"]),
        "ann@alpha.example",
        "active",
    )
    usage = me["usage"]
    assert (usage["used_bytes"], usage["limit_bytes"], usage["percent"], usage["level"]) == (
        90 * GIB, 100 * GIB, 90.0, "critical",
    )  # fmt: skip
    assert me["thresholds"] == {"warning_percent": 85.0, "critical_percent": 95.0, "alerts_enabled": True}
    assert me["history"]["resolution"] == "daily"
    assert [p["at"][:10] for p in me["history"]["points"]] == ["2031-03-12", "2031-03-13", "2031-03-14", "2031-03-15"]
    trend = me["forecast"]["trend"]
    assert (trend["status"], trend["points"], trend["level_shift_at"]) == ("ok", 72, None)
    assert trend["bytes_per_day"] == pytest.approx(6 * GIB) and trend["bytes_per_week"] == pytest.approx(42 * GIB)
    warning, critical, full = (me["forecast"][k] for k in ("warning", "critical", "full"))
    assert (warning["status"], warning["days"], warning["date"]) == ("reached", 0.0, "2031-03-15")
    # 90 GiB growing 6 GiB a day: 95 GiB in 5/6 of a day, 100 GiB in 10/6 days.
    assert (critical["status"], critical["days"], critical["date"]) == (
        "forecast",
        pytest.approx(0.83, abs=0.01),
        "2031-03-16",
    )
    assert (full["status"], full["days"], full["date"], full["threshold_bytes"]) == (
        "forecast", pytest.approx(1.67, abs=0.01), "2031-03-17", 100 * GIB,
    )  # fmt: skip


def test_me_with_a_session_cookie_before_anything_was_collected(world: World):
    token = session_token(world.settings, world.engine, world.ids["eve"], world.clock)
    answer = httpx.get(f"{world.url}/api/storage/me", cookies={"dg_session": token}, timeout=30)
    assert answer.status_code == 200, answer.text
    me = answer.json()
    assert me["usage"] is None and me["history"]["points"] == []
    assert me["thresholds"] == {"warning_percent": 80.0, "critical_percent": 90.0, "alerts_enabled": True}
    assert (me["forecast"]["trend"]["status"], me["forecast"]["trend"]["reason"]) == ("unknown", "no-data")
    assert {me["forecast"][k]["reason"] for k in ("warning", "critical", "full")} == {"no-data"}


def test_me_of_an_unlimited_account_has_no_marks(world: World):
    with world.as_person("dan") as dan:
        me = dan.get("/api/storage/me").json()
    assert me["usage"]["limit_bytes"] is None and me["usage"]["percent"] is None
    assert {me["forecast"][k]["reason"] for k in ("warning", "critical", "full")} == {"unlimited"}


def test_me_needs_a_google_account(world: World):
    answer = world.admin.get("/api/storage/me")  # a password admin token: no account of its own
    assert answer.status_code == 404 and answer.json()["code"] == "no-own-account"
    assert httpx.get(f"{world.url}/api/storage/me").status_code == 401


# -- alerts ----------------------------------------------------------------------------------------


def add_alert(world: World, account_id: uuid.UUID, kind: str, at: dt.datetime, deliveries: list[str]) -> uuid.UUID:
    alert_id = uuid.uuid4()
    vault = Vault(world.settings.security.encryption_keys)
    with world.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO alert (id, account_id, kind, interval_start, usage_percent, usage_bytes, limit_bytes,"
                " created_at, updated_at) VALUES (:id, :account, CAST(:kind AS alert_kind), :at, 90.0, :used, :limit,"
                " :at, :at)"
            ),
            {"id": alert_id, "account": account_id, "kind": kind, "at": at, "used": 90 * GIB, "limit": 100 * GIB},
        )
        for n, status in enumerate(deliveries):
            row_id = uuid.uuid4()  # the target sealed to the row, as the product writes it
            conn.execute(
                text(
                    "INSERT INTO notification_outbox (id, alert_id, idempotency_key, target, target_ciphertext, title,"
                    " body, status, attempts, next_attempt_at, sent_at, created_at, updated_at) VALUES (:id, :alert,"
                    " :key, 'json://hooks.example', :sealed, 't', 'b', CAST(:status AS outbox_status), :attempts,"
                    " :at, :sent, :created, :at)"
                ),
                {
                    "id": row_id, "alert": alert_id, "key": f"{alert_id}:{n}", "status": status,
                    "sealed": seal_outbox_target(vault, "json://hooks.example/secret-path", row_id),
                    "attempts": 1 if status != "pending" else 0, "at": at,
                    "sent": at if status == "sent" else None, "created": at + dt.timedelta(seconds=n),
                },
            )  # fmt: skip
    return alert_id


def test_alerts_newest_first_with_their_delivery_state(world: World):
    ann = world.ids["ann"]
    first = add_alert(world, ann, "warning", NOW - dt.timedelta(days=2), ["sent"])
    second = add_alert(world, ann, "critical", NOW - dt.timedelta(days=1), ["sent", "failed"])
    third = add_alert(world, ann, "critical_repeat", NOW - HOUR, ["sent", "pending"])
    quiet = add_alert(world, ann, "resolved", NOW - dt.timedelta(minutes=5), [])
    add_alert(world, world.ids["bob"], "warning", NOW, ["failed"])
    with world.as_person("ann") as client:
        page = client.get(f"/api/storage/accounts/{ann}/alerts", params={"limit": 3}).json()
        rest = client.get(
            f"/api/storage/accounts/{ann}/alerts", params={"limit": 3, "cursor": page["next_cursor"]}
        ).json()
        other = client.get(f"/api/storage/accounts/{world.ids['bob']}/alerts")
    assert [(a["id"], a["kind"], a["delivery"]) for a in page["items"]] == [
        (str(quiet), "resolved", "none"),
        (str(third), "critical_repeat", "pending"),
        (str(second), "critical", "partial"),
    ]
    assert [(a["id"], a["delivery"]) for a in rest["items"]] == [(str(first), "sent")]
    assert rest["next_cursor"] is None
    deliveries = page["items"][2]["deliveries"]
    assert [(d["status"], d["attempts"]) for d in deliveries] == [("sent", 1), ("failed", 1)]
    assert "secret-path" not in str(page) and "target" not in deliveries[0]
    assert page["items"][2]["usage_bytes"] == 90 * GIB and page["items"][2]["limit_bytes"] == 100 * GIB
    assert other.status_code == 403
    bob = world.admin.get(f"/api/storage/accounts/{world.ids['bob']}/alerts").json()
    assert [a["delivery"] for a in bob["items"]] == ["failed"]
    assert world.admin.get(f"/api/storage/accounts/{uuid.uuid4()}/alerts").status_code == 404
    assert world.admin.get(f"/api/storage/accounts/{ann}/alerts", params={"cursor": "@@"}).status_code == 400
    assert world.admin.get(f"/api/storage/accounts/{ann}/alerts", params={"limit": 0}).status_code == 400


def test_me_follows_each_new_collection(world: World):
    with world.as_person("ann") as ann:
        before = ann.get("/api/storage/me").json()
        # The next hour is collected with a 5 GiB upload on top of the usual growth: the trend
        # starts over after the jump, and with one point after it there is no forecast yet.
        world.clock.set(NOW + HOUR)
        nxt = Interval(NOW, NOW + HOUR)
        write_snapshots(world.engine, nxt, [(world.ids["ann"], 95 * GIB + GIB // 4, 100 * GIB)])
        refresh_read_model(world.engine, nxt)
        after = ann.get("/api/storage/me").json()
    assert before["forecast"]["trend"]["status"] == "ok"
    assert after["usage"]["used_bytes"] == 95 * GIB + GIB // 4
    trend = after["forecast"]["trend"]
    assert (trend["status"], trend["reason"], trend["level_shift_at"]) == (
        "unknown",
        "level-shift",
        "2031-03-15T12:00:00Z",
    )
    assert [after["forecast"][k]["status"] for k in ("warning", "critical", "full")] == [
        "reached",
        "reached",
        "unknown",
    ]


def test_a_malformed_account_id_is_a_problem_not_a_crash(world: World):
    answer = world.admin.get("/api/storage/accounts/not-a-uuid/history")
    assert 400 <= answer.status_code < 500
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_fastest_growing_and_stale_accounts(world: World):
    # Only ann has a day of history (growth 6 GiB); everyone else has no growth figure yet.
    assert walk(world, 2, sort="growth_24h")[0][0] == "ann"
    assert walk(world, 2, sort="growth_7d")[0][0] == "ann"  # 30 GiB over the downsampled February day
    second = Interval(NOW, NOW + HOUR)  # bob and cid are collected once more; the others are not
    write_snapshots(
        world.engine, second, [(world.ids["bob"], 51 * GIB, 100 * GIB), (world.ids["cid"], 8600 * MIB, 10_000 * MIB)]
    )
    refresh_read_model(world.engine, second)
    stale = walk(world, 2, sort="last_collected", direction="asc", collected_before="2031-03-15T12:30:00Z")[0]
    assert stale == [*by_id(world, ["ann", "dan", "fay"], reverse=False), "eve"]  # eve: never collected
    bad = world.admin.get("/api/storage/accounts", params={"collected_before": "soon"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid-date"


# -- the overview ------------------------------------------------------------------------------------


def walk_overview(world: World, limit: int, **params: object) -> tuple[list[str], list[dict[str, object]]]:
    """Every page of the overview by cursor: the first names in order, and each page's body."""
    names = {v: k for k, v in world.ids.items()}
    bodies: list[dict[str, object]] = []
    cursor = None
    while len(bodies) < 20:
        answer = world.admin.get(
            "/api/storage/overview", params={**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        )
        assert answer.status_code == 200, answer.text
        bodies.append(answer.json())
        cursor = bodies[-1]["next_cursor"]
        if cursor is None:
            break
    order = [names[uuid.UUID(item["account_id"])] for body in bodies for item in body["accounts"]]  # type: ignore[attr-defined]
    return order, bodies


def test_the_overview_pages_by_cursor_fullest_first_and_unlimited_last(world: World):
    for limit in (1, 2, 100):
        order, bodies = walk_overview(world, limit)
        # eve has no snapshot yet, so no overview row; dan has no quota (no percentage): last.
        assert order == ["ann", "cid", *by_id(world, ["bob", "fay"], reverse=True), "dan"], limit
        assert len(bodies) == -(-5 // limit)  # the last full page already knows it is the last
        assert all(body["totals"] == bodies[0]["totals"] for body in bodies)
        assert bodies[0]["totals"]["accounts"] == 5 and bodies[0]["totals"]["unlimited"] == 1
        assert bodies[-1]["next_cursor"] is None


def test_the_overview_pages_one_level_by_cursor(world: World):
    order, _ = walk_overview(world, 1, level="normal")
    assert order == [*by_id(world, ["bob", "fay"], reverse=True), "dan"]


BAD_OVERVIEW_PARAMS: list[dict[str, object]] = [
    {"cursor": "not base64 json!"},
    {"cursor": cursor_of("accounts", "usage_percent", "desc", 1.5, str(uuid.UUID(int=1)))},
    {"cursor": cursor_of("overview", None, "90", str(uuid.UUID(int=1)))},
    {"cursor": cursor_of("overview", None, 90.0, "not-a-uuid")},
    {"cursor": cursor_of("overview", None, 90.0, str(uuid.UUID(int=1))), "offset": 5},
    {"offset": 10_001},
]


def test_bad_overview_cursors_are_problems(world: World):
    for params in BAD_OVERVIEW_PARAMS:
        answer = world.admin.get("/api/storage/overview", params=params)
        assert answer.status_code == 400, (params, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")


def test_an_overview_cursor_only_continues_its_own_level(world: World):
    cursor = world.admin.get("/api/storage/overview", params={"limit": 1}).json()["next_cursor"]
    answer = world.admin.get("/api/storage/overview", params={"limit": 1, "cursor": cursor, "level": "normal"})
    assert answer.status_code == 400
    assert answer.json()["code"] == "invalid-cursor"


def test_once_every_account_is_collected_the_list_still_ends_with_those_without_a_percentage(world: World):
    # eve (never collected) leaves: every account has a read model row, so the rows without a sort
    # key are paged through the read model's own index (an inner join), not an anti-join.
    with world.engine.begin() as conn:
        conn.execute(text("DELETE FROM google_account WHERE id = :id"), {"id": world.ids["eve"]})
    order, _ = walk(world, 2)
    assert order == ["ann", "cid", *by_id(world, ["bob", "fay"], reverse=True), "dan"]
    ascending, _ = walk(world, 1, direction="asc")
    assert ascending == [*by_id(world, ["bob", "fay"], reverse=False), "cid", "ann", "dan"]
    stale, _ = walk(world, 5, sort="last_collected", direction="asc", collected_before="2031-03-15T11:30:00Z")
    assert stale == []  # nobody is stale, and there is no never-collected account left to list
