"""The emulator's switches for the grant tests: rotation for every account, reuse detection that
revokes the whole grant, 60 s tokens, and a late answer (the work is done, the answer held)."""

from __future__ import annotations

import time

import httpx
import pytest
from support.emulator_admin import RunningEmulator

CLIENT_FORM = {"grant_type": "refresh_token"}


def refresh_with(emu: RunningEmulator, refresh_token: str, timeout: float = 10) -> httpx.Response:
    form = {**CLIENT_FORM, "refresh_token": refresh_token, "client_id": emu.client_id}
    return httpx.post(emu.url("/token"), data={**form, "client_secret": emu.client_secret}, timeout=timeout)


def test_reusing_a_rotated_refresh_token_revokes_the_whole_grant(emu: RunningEmulator) -> None:
    emu.admin.config(rotate_refresh_tokens=True, refresh_reuse_revokes_grant=True, access_token_ttl=60)
    tokens = emu.grant("alice@gmail.com")
    first = refresh_with(emu, str(tokens["refresh_token"]))
    assert first.status_code == 200 and first.json()["expires_in"] == 60
    rotated = first.json()["refresh_token"]
    assert rotated != tokens["refresh_token"]
    reused = refresh_with(emu, str(tokens["refresh_token"]))
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    # Reuse detected: the token the client legitimately holds is dead too.
    assert refresh_with(emu, rotated).json()["error"] == "invalid_grant"
    assert emu.admin.stats()["refresh_reuse_detected"] == 1


def test_without_reuse_detection_only_the_rotated_token_dies(emu: RunningEmulator) -> None:
    emu.admin.config(rotate_refresh_tokens=True)
    tokens = emu.grant("alice@gmail.com")
    rotated = refresh_with(emu, str(tokens["refresh_token"])).json()["refresh_token"]
    assert refresh_with(emu, str(tokens["refresh_token"])).status_code == 400
    assert refresh_with(emu, rotated).status_code == 200
    assert emu.admin.stats()["refresh_reuse_detected"] == 0


def test_a_late_answer_comes_after_the_work_is_done(emu: RunningEmulator) -> None:
    emu.admin.config(rotate_refresh_tokens=True)
    tokens = emu.grant("alice@gmail.com")
    emu.admin.faults({"group": "token", "late_answer": {"ms": 1500, "count": 1}})
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        refresh_with(emu, str(tokens["refresh_token"]), timeout=0.5)
    assert time.monotonic() - started < 1.4
    stats = emu.admin.stats()
    assert stats["grants"]["refresh_token"] == 1 and stats["late_answers"] == {"token": 1}  # it rotated anyway
    assert refresh_with(emu, str(tokens["refresh_token"])).json()["error"] == "invalid_grant"


def test_bad_switch_values_are_refused(emu: RunningEmulator) -> None:
    answer = httpx.patch(emu.url("/_emulator/config"), json={"rotate_refresh_tokens": "yes"})
    assert answer.status_code == 400 and "rotate_refresh_tokens" in answer.text
    bad = httpx.post(emu.url("/_emulator/faults"), json={"group": "token", "late_answer": 5})
    assert bad.status_code == 400 and "late_answer" in bad.text
