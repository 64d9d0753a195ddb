"""The project budget Google's way: at most N requests (batch parts counted) in any one-second window,
429 rateLimitExceeded above it; and the most requests any one second saw, in the stats."""

from __future__ import annotations

import httpx
from support.emulator_admin import RunningEmulator, raw_batch, split_parts


def about(emu: RunningEmulator, token: object) -> httpx.Response:
    return httpx.get(emu.url("/drive/v3/about?fields=storageQuota"), headers={"Authorization": f"Bearer {token}"})


def test_the_budget_admits_one_seconds_worth_then_answers_429_until_the_window_moves(emu: RunningEmulator) -> None:
    token = emu.grant("alice@gmail.com")["access_token"]
    emu.admin.faults({"group": "about", "rate_budget_per_second": 5})
    statuses = [about(emu, token).status_code for _ in range(7)]
    assert statuses == [200] * 5 + [429] * 2
    refused = about(emu, token)
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"]["errors"][0]["reason"] == "rateLimitExceeded"
    emu.admin.advance_clock(1.01)  # the window moves on the emulator's clock
    assert [about(emu, token).status_code for _ in range(6)] == [200] * 5 + [429]
    stats = emu.admin.stats()
    assert stats["rate_limited"] == {"about": 4}
    assert stats["max_1s_window"]["about"] == 8, "what arrived within one second, refused ones included"


def test_each_batch_part_counts_against_the_window(emu: RunningEmulator) -> None:
    token = str(emu.grant("alice@gmail.com")["access_token"])
    emu.admin.faults({"group": "about", "rate_budget_per_second": 5})
    emu.admin.reset_stats()
    parts = split_parts(raw_batch(emu, [token] * 8))
    assert sorted(status for _, status, _ in parts) == [200] * 5 + [429] * 3
    stats = emu.admin.stats()
    assert stats["max_1s_window"] == {"batch": 1, "about": 8}
    assert stats["statuses"]["about"] == {"200": 5, "429": 3}


def test_a_bad_budget_is_refused_with_a_clear_message(emu: RunningEmulator) -> None:
    response = emu.admin.http.post("/_emulator/faults", json=[{"group": "about", "rate_budget_per_second": 2.5}])
    assert response.status_code == 400
    assert "rate_budget_per_second: must be a whole number" in response.text
