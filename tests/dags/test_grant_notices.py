"""Grant health notices through real Airflow task runs, real sign-ins over HTTP and real apprise
deliveries: one "sign in again" notice per account and episode however often the refresh and
dispatch run, one "recovered" notice after the person signs in again; the person hears it on their
own target, else by e-mail through the deployment's mail target; ops hear it on theirs."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx
from support.airflow_harness import CLIENT_ID, CLIENT_SECRET, World, account
from support.emulator import decide, walk_to_google
from support.outbox import set_personal_targets
from support.servers import free_port, serve_asgi

from api.app import create_app
from driveguard.config import load_settings
from driveguard.storage.grant_notices import GrantNoticeService
from driveguard.storage.targets import mask_target

GIB = 1024**3
RECONSENT = "http://127.0.0.1:8000/auth/login?consent=true&next=/me"  # API_PUBLIC_URL of the DAG settings


@contextlib.contextmanager
def api(world: World) -> Iterator[str]:
    """Driveguard's API over HTTP on the DAG suite's database and emulator, its callback registered."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**world.harness.env, "GOOGLE_REDIRECT_URI": f"{url}/auth/callback", "API_PUBLIC_URL": url}
    world.emu.call(
        "POST", "/clients",
        {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "add_redirect_uris": [f"{url}/auth/callback"]},
    )  # fmt: skip
    with serve_asgi(create_app(load_settings(env, env_file="/dev/null"), world.engine), port=port) as served:
        yield served


def sign_in_again(base_url: str, email: str) -> None:
    with httpx.Client(timeout=30) as browser:
        consent = walk_to_google(browser, base_url, next_path="/me", consent="true")
        callback = browser.get(decide(browser, consent, email))
        assert callback.status_code == 303, callback.text


def deliveries(world: World) -> dict[str, list[Any]]:
    return {name: receiver.unique() for name, receiver in world.receivers.items()}


def test_one_notice_per_lost_grant_however_often_the_pipelines_run_and_one_recovered_after_sign_in(world: World):
    emails = ["alice@example.com", "bob@example.com", "carol@example.com"]
    # The emulator's `sub` is the one World.seed stores, so a later sign-in finds the same account.
    ids = world.seed([account(e, usage=GIB, sub=f"sub-{e}") for e in emails], expiring=set(emails))
    bob_target = world.receivers["http"].url("/bob")
    with world.engine.begin() as conn:  # bob chose his own target; alerts off does not silence access notices
        set_personal_targets(conn, world.settings, ids["bob@example.com"], [bob_target])
        conn.exec_driver_sql(
            "UPDATE monitoring_setting SET alerts_enabled = false WHERE account_id = %s", (ids["bob@example.com"],)
        )
    world.emu.revoke("alice@example.com")
    world.emu.revoke("bob@example.com")

    refreshed = world.harness.run("token_refresh")
    assert refreshed.state == "success"
    assert refreshed.xcom("summarize")["reauth_required"] == 2
    first = world.harness.run("alert_dispatch")
    assert first.state == "success"
    assert first.xcom("grant_notices") == {"opened": 2, "recovered": 0, "outbox_rows": 6, "person_unreachable": 0}
    assert first.xcom("dispatch")["sent"] == 6  # alice: her e-mail + 2 ops; bob: his hook + 2 ops

    # The refresh runs again (and the dispatcher twice more): nothing new is queued or sent.
    assert world.harness.run("token_refresh").state == "success"
    for _ in range(2):
        again = world.harness.run("alert_dispatch")
        assert again.xcom("grant_notices") == {"opened": 0, "recovered": 0, "outbox_rows": 0, "person_unreachable": 0}
        assert again.xcom("dispatch")["claimed"] == 0

    got = deliveries(world)
    smtp = sorted((d.headers["To"], d.subject) for d in got["smtp"])
    assert smtp == [
        ("alice@example.com", "Driveguard lost access to alice@example.com's Google Drive: please sign in again"),
        ("ops@example.com", "Driveguard lost access to alice@example.com's Google Drive: please sign in again"),
        ("ops@example.com", "Driveguard lost access to bob@example.com's Google Drive: please sign in again"),
    ]  # bob has his own target: no e-mail to him
    http = sorted((d.headers["path"], d.subject) for d in got["http"])
    assert http == [
        ("/bob", "Driveguard lost access to bob@example.com's Google Drive: please sign in again"),
        ("/hooks/driveguard", "Driveguard lost access to alice@example.com's Google Drive: please sign in again"),
        ("/hooks/driveguard", "Driveguard lost access to bob@example.com's Google Drive: please sign in again"),
    ]
    assert all(RECONSENT in d.body for d in got["smtp"] + got["http"])
    assert all(sum(got_raw.values()) == len(got_raw) for got_raw in
               (world.receivers["smtp"].raw_count_by_key(), world.receivers["http"].raw_count_by_key()))  # fmt: skip
    assert world.scalar("SELECT count(*) FROM grant_episode WHERE recovered_at IS NULL") == 2

    # alice signs in again through the consent page: one "recovered" notice, however often dispatch runs.
    for receiver in world.receivers.values():
        receiver.clear()
    with api(world) as base_url:
        sign_in_again(base_url, "alice@example.com")
    assert world.scalar("SELECT status FROM google_account WHERE id = :id", id=ids["alice@example.com"]) == "active"
    recovered = world.harness.run("alert_dispatch")
    assert recovered.xcom("grant_notices") == {"opened": 0, "recovered": 1, "outbox_rows": 3, "person_unreachable": 0}
    assert recovered.xcom("dispatch")["sent"] == 3
    assert world.harness.run("alert_dispatch").xcom("dispatch")["claimed"] == 0
    assert world.harness.run("token_refresh").state == "success"
    assert world.harness.run("alert_dispatch").xcom("grant_notices")["outbox_rows"] == 0
    got = deliveries(world)
    title = "Driveguard has access to alice@example.com's Google Drive again"
    assert sorted((d.headers["To"], d.subject) for d in got["smtp"]) == [
        ("alice@example.com", title), ("ops@example.com", title),
    ]  # fmt: skip
    assert [(d.headers["path"], d.subject) for d in got["http"]] == [("/hooks/driveguard", title)]

    # What /me and /admin show: bob's episode still open, alice's closed, each with its deliveries.
    service = GrantNoticeService(world.settings, world.engine)
    everyone = service.notices()
    assert [(n.email, n.open) for n in everyone] == [("bob@example.com", True), ("alice@example.com", False)]
    assert everyone[0].reconnect_url == RECONSENT
    alice = service.notices(ids["alice@example.com"])
    assert len(alice) == 1
    hook, mail = mask_target(world.receivers["http"].url()), mask_target(world.receivers["smtp"].url())
    assert hook == f"json://127.0.0.1:{world.receivers['http'].port}"  # shown masked: scheme and host only
    assert sorted((d.edge, d.target, d.status) for d in alice[0].deliveries) == [
        ("reauth", hook, "sent"), ("reauth", mail, "sent"), ("reauth", mail, "sent"),
        ("recovered", hook, "sent"), ("recovered", mail, "sent"), ("recovered", mail, "sent"),
    ]  # fmt: skip
    assert service.notices(ids["carol@example.com"]) == []


def test_a_failed_grant_sweep_still_lets_alerts_out_but_fails_the_run(world: World):
    world.seed([account("dave@example.com", usage=GIB)])

    def sweep_breaks(context: Any) -> None:
        raise RuntimeError("grant sweep broke")

    run = world.harness.run("alert_dispatch", before_each_try={"grant_notices": sweep_breaks})
    assert run.task_state("grant_notices") == "failed"
    assert run.task_state("dispatch") == "success", "storage alerts are not held back"
    assert run.task_state("notices_queued") == "upstream_failed"
    assert run.state == "failed", "a run that missed work is never green"
    assert world.harness.run("alert_dispatch").state == "success"  # the next run is whole again
