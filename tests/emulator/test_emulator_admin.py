"""The `/_emulator/` control surface, the demo seed, and `python -m emulator` itself."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from support.emulator_admin import AdminClient, RunningEmulator, serve

from emulator import EmulatorConfig, EmulatorState

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_demo_seed_levels_and_determinism(emu: RunningEmulator) -> None:
    accounts = emu.admin.accounts()
    ratio = {e: a["usage"] / a["limit"] for e, a in accounts.items() if a["limit"]}
    assert 0.35 <= ratio["alice@gmail.com"] < 0.8
    assert 0.8 <= ratio["bob@gmail.com"] < 0.9
    assert ratio["carol@gmail.com"] >= 0.9
    assert accounts["dave@northwind.example"]["limit"] is None and accounts["dave@northwind.example"]["domain"]
    assert accounts["erin@northwind.example"]["is_admin"]
    history = emu.admin.call("GET", "/accounts/bob@gmail.com")["history"]
    assert len(history) >= 30
    first = emu.admin.call("GET", "/accounts", params={"history": "true"})
    emu.admin.reset()
    assert emu.admin.call("GET", "/accounts", params={"history": "true"}) == first


def test_bulk_create_of_a_thousand_accounts_is_fast(emu: RunningEmulator) -> None:
    accounts = [{"email": f"bulk{i:04d}@load.example", "usage": i * 1024, "limit": None} for i in range(1000)]
    started = time.monotonic()
    created = emu.admin.upsert_accounts(accounts)
    assert time.monotonic() - started < 5
    assert created["count"] == 1000
    assert emu.admin.call("GET", "/accounts")["count"] == 1000 + 7
    grants = emu.admin.grants([a["email"] for a in accounts[:500]], client_id=emu.client_id)
    assert len({g["refresh_token"] for g in grants}) == 500


def test_update_patch_and_delete(emu: RunningEmulator) -> None:
    tokens = emu.grant("alice@gmail.com")
    emu.admin.upsert_accounts([{"email": "alice@gmail.com", "usage": 123}])
    assert emu.admin.accounts()["alice@gmail.com"]["usage"] == 123
    patched = emu.admin.patch_account("alice@gmail.com", history={"2020-02-02": {"usage": 5}})
    assert patched["usage"] == 123
    assert emu.admin.call("GET", "/accounts/alice@gmail.com")["history"]["2020-02-02"]["usage"] == 5
    deleted = emu.admin.http.delete("/_emulator/accounts/alice@gmail.com")
    assert deleted.status_code == 200
    gone = httpx.get(
        emu.url("/drive/v3/about?fields=user"), headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert gone.status_code == 401
    assert emu.admin.http.delete("/_emulator/accounts/alice@gmail.com").status_code == 404
    assert emu.admin.http.patch("/_emulator/accounts/nobody@x.example", json={}).status_code == 404


def test_validation_errors_are_400_and_change_nothing(emu: RunningEmulator) -> None:
    before = emu.admin.accounts()
    for payload in (
        [{"email": "not-an-email"}],
        [{"email": "ok@new.example"}, {"email": "neg@new.example", "usage": -1}],
        [{"email": "boss@gmail.example", "is_admin": True}],
        [{"email": "h@new.example", "history": {"yesterday": {"usage": 1}}}],
    ):
        response = emu.admin.http.post("/_emulator/accounts", json=payload)
        assert response.status_code == 400, payload
        assert "error" in response.json()
    assert emu.admin.accounts() == before
    assert emu.admin.http.post("/_emulator/clock", json={}).status_code == 400
    assert emu.admin.http.patch("/_emulator/config", json={"batch_overflow": "explode"}).status_code == 400


def test_register_a_client_and_use_its_redirect_uri(emu: RunningEmulator) -> None:
    emu.admin.call(
        "POST",
        "/clients",
        {
            "client_id": "other.apps.googleusercontent.com",
            "client_secret": "s3",
            "redirect_uris": ["http://localhost:7000/cb"],
            "name": "Other",
        },
    )
    params = {
        "client_id": "other.apps.googleusercontent.com",
        "redirect_uri": "http://localhost:7000/cb",
        "response_type": "code",
        "scope": "openid email",
        "state": "xyz",
    }
    with httpx.Client() as http:
        page = http.get(emu.url("/o/oauth2/v2/auth?" + urlencode(params)))
        assert page.status_code == 200 and "Other" in page.text
        request_id = page.text.split('name="request_id" value="', 1)[1].split('"', 1)[0]
        answer = http.post(
            emu.url("/o/oauth2/v2/auth/decision"),
            data={"request_id": request_id, "account": "carol@gmail.com", "decision": "allow"},
        )
        code = parse_qs(urlsplit(answer.headers["location"]).query)["code"][0]
        token = http.post(
            emu.url("/token"),
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": "http://localhost:7000/cb",
                "client_id": "other.apps.googleusercontent.com",
                "client_secret": "s3",
            },
        )
        assert token.status_code == 200 and "id_token" in token.json()
    clients = {c["client_id"] for c in emu.admin.call("GET", "/clients")["clients"]}
    assert clients == {emu.client_id, "other.apps.googleusercontent.com"}


def test_clock_controls(emu: RunningEmulator) -> None:
    start = emu.admin.call("GET", "/clock")
    assert abs(start["offset_seconds"]) < 1e-9
    advanced = emu.admin.advance_clock(3 * 86400)
    assert advanced["offset_seconds"] == 3 * 86400
    pinned = emu.admin.call("POST", "/clock", {"now": "2030-01-02T03:04:05+00:00"})
    assert pinned["now"].startswith("2030-01-02T03:04")
    assert emu.admin.call("POST", "/clock", {"offset_seconds": 0})["offset_seconds"] == 0


def test_reset_to_an_empty_seed_and_back(emu: RunningEmulator) -> None:
    assert emu.admin.reset("none")["accounts"] == 0
    assert emu.admin.accounts() == {}
    assert emu.admin.reset("demo")["accounts"] == 7


def test_stats_reset(emu: RunningEmulator) -> None:
    httpx.get(emu.url("/oauth2/v3/certs"))
    assert emu.admin.stats()["requests"]["certs"] == 1
    emu.admin.reset_stats()
    assert emu.admin.stats()["requests"] == {}


def test_admin_token_guards_only_the_admin_api() -> None:
    state = EmulatorState(EmulatorConfig(admin_token="sesame"), seed="demo")
    with serve(state) as base_url:
        assert httpx.get(base_url + "/_emulator/accounts").status_code == 401
        assert httpx.get(base_url + "/_emulator/accounts", headers={"X-Emulator-Admin-Token": "x"}).status_code == 401
        admin = AdminClient(base_url, admin_token="sesame")
        try:
            assert len(admin.accounts()) == 7
            assert admin.call("GET", "/config")["admin_token"] is True
        finally:
            admin.close()
        assert httpx.get(base_url + "/.well-known/openid-configuration").status_code == 200


def test_python_dash_m_emulator_runs_with_flags_and_env() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "GOOGLE_CLIENT_SECRET": "from-env", "EMULATOR_PORT": str(port)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emulator",
            "--seed",
            "none",
            "--client-id",
            "cli.apps.googleusercontent.com",
            "--redirect-uri",
            "http://127.0.0.1:8000/a",
            "--redirect-uri",
            "http://127.0.0.1:8000/b",
            "--log-level",
            "warning",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(base + "/_emulator/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and process.poll() is None, "python -m emulator did not start"
            time.sleep(0.1)
        [client] = httpx.get(base + "/_emulator/clients").json()["clients"]
        assert client == {
            "client_id": "cli.apps.googleusercontent.com",
            "client_secret": "from-env",
            "redirect_uris": ["http://127.0.0.1:8000/a", "http://127.0.0.1:8000/b"],
            "name": "Driveguard",
            "testing": False,
        }
        assert httpx.get(base + "/_emulator/accounts").json()["count"] == 0
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_plain_reset_returns_to_the_starting_seed(emu: RunningEmulator) -> None:
    emu.admin.reset("none")
    assert emu.admin.reset()["seed"] == "demo"
