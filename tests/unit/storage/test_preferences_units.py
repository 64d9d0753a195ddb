"""The small rules behind preferences and grant notices: masking, the person's mail target, form parsing."""

from __future__ import annotations

import pytest

from driveguard.storage.grant_notices import mail_target_for, notice_key
from driveguard.storage.preferences import PreferencesInvalid, form_changes
from driveguard.storage.targets import mask_target


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("mailto://alice@example.com", "mailto://a***@example.com"),
        ("mailtos://alice:app-password@smtp.example.com:465?to=x@y.example", "mailtos://a***@smtp.example.com:465"),
        ("json://hooks.example.com:8080/path/t0k3n?secret=1", "json://hooks.example.com:8080"),
        ("slack://T000/B000/XXXX", "slack://t000"),
        ("JSON://Hooks.Example.com/x", "json://hooks.example.com"),
        ("ntfy://", "ntfy://"),
        ("json://[::1", "json://"),
    ],
)
def test_a_masked_target_keeps_scheme_a_user_hint_and_host_only(url: str, shown: str):
    assert mask_target(url) == shown
    for secret in ("app-password", "t0k3n", "secret", "XXXX", "/path"):
        assert secret not in mask_target(url)


def test_the_person_is_mailed_through_the_deployments_first_mail_target():
    ops = [
        "json://hooks.example.com/x",
        "mailto://u:p@smtp.example.com:2525?from=dg@example.com&to=ops@example.com&cc=x@example.com",
    ]
    assert mail_target_for(ops, "alice@example.com") == (
        "mailto://u:p@smtp.example.com:2525?from=dg@example.com&to=alice@example.com"
    )
    assert mail_target_for(["json://hooks.example.com/x"], "alice@example.com") is None
    assert mail_target_for([], "alice@example.com") is None


def test_a_notice_key_is_per_episode_edge_and_target():
    import uuid

    episode = uuid.UUID(int=7)
    keys = {
        notice_key(episode, edge, target) for edge in ("reauth", "recovered") for target in ("json://a/1", "json://a/2")
    }
    assert len(keys) == 4 and all(len(k) <= 128 and "json://" not in k for k in keys)
    assert notice_key(episode, "reauth", "json://a/1") == notice_key(episode, "reauth", "json://a/1")


def test_a_form_posts_strings_checkboxes_and_an_empty_target_keeps_the_current_one():
    assert form_changes(
        {
            "warning_threshold_percent": "70,5",
            "critical_threshold_percent": "",
            "alerts_enabled": "on",
            "personal_target": "",
        }
    ) == {
        "warning_threshold_percent": 70.5,
        "critical_threshold_percent": None,
        "alerts_enabled": True,
    }
    assert form_changes({"personal_target": " json://h.example/x ", "remove_personal_target": ""}) == {
        "alerts_enabled": False,  # an unchecked checkbox is not posted: off
        "personal_target": " json://h.example/x ",
    }
    assert (
        form_changes({"personal_target": "json://h.example/x", "remove_personal_target": "on"})["personal_target"]
        is None
    )
    with pytest.raises(PreferencesInvalid) as caught:
        form_changes({"warning_threshold_percent": "eighty", "critical_threshold_percent": "9O"})
    assert set(caught.value.errors) == {"warning_threshold_percent", "critical_threshold_percent"}
