"""Settings: every missing or malformed variable stops startup with a message naming it."""

from __future__ import annotations

import pytest

from driveguard.config import ConfigError, generate_encryption_key, load_settings

VALID = {
    "GOOGLE_CLIENT_ID": "client.apps.googleusercontent.com",
    "GOOGLE_CLIENT_SECRET": "secret",
    "GOOGLE_REDIRECT_URI": "http://127.0.0.1:8000/auth/callback",
    "DRIVEGUARD_ENCRYPTION_KEYS": generate_encryption_key("k2") + "," + generate_encryption_key("k1"),
    "DRIVEGUARD_SECRET_KEY": "x" * 40,
}


def load(**overrides: str | None):
    env = {**VALID, **overrides}
    return load_settings({k: v for k, v in env.items() if v is not None}, env_file="/dev/null")


def problems_for(**overrides: str | None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(**overrides)
    return caught.value.problems


def test_defaults_point_at_real_google_and_documented_thresholds():
    settings = load()
    assert settings.google.endpoints.token_uri == "https://oauth2.googleapis.com/token"
    assert settings.google.endpoints.drive_batch_url == "https://www.googleapis.com/batch/drive/v3"
    assert "https://accounts.google.com" in settings.google.endpoints.issuers
    assert settings.google.emulator_url is None
    assert settings.monitoring.warning_threshold_percent == 80
    assert settings.monitoring.critical_threshold_percent == 90
    assert settings.monitoring.default_quota_bytes == 15 * 1024**3
    assert [k.key_id for k in settings.security.encryption_keys] == ["k2", "k1"]


def test_one_variable_points_every_google_endpoint_at_the_emulator():
    settings = load(GOOGLE_EMULATOR_URL="http://127.0.0.1:8090/")
    endpoints = settings.google.endpoints
    assert endpoints.auth_uri == "http://127.0.0.1:8090/o/oauth2/v2/auth"
    assert endpoints.token_uri == "http://127.0.0.1:8090/token"
    assert endpoints.drive_api_url == "http://127.0.0.1:8090/drive/v3/"
    assert endpoints.drive_batch_url == "http://127.0.0.1:8090/batch/drive/v3"
    assert endpoints.issuers == ("http://127.0.0.1:8090",)


def test_a_single_endpoint_can_still_be_overridden():
    settings = load(GOOGLE_EMULATOR_URL="http://127.0.0.1:8090", GOOGLE_TOKEN_URI="http://127.0.0.1:9999/token")
    assert settings.google.endpoints.token_uri == "http://127.0.0.1:9999/token"
    assert settings.google.endpoints.revoke_uri == "http://127.0.0.1:8090/revoke"


@pytest.mark.parametrize(
    "missing", ["GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET", "GOOGLE_REDIRECT_URI", "DRIVEGUARD_ENCRYPTION_KEYS"]
)
def test_missing_required_variable_is_named(missing: str):
    problems = problems_for(**{missing: None})
    assert any(p.startswith(missing) for p in problems), problems


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("DATABASE_URL", "mysql://x@y/z", "DATABASE_URL"),
        ("GOOGLE_REDIRECT_URI", "not a url", "GOOGLE_REDIRECT_URI"),
        ("GOOGLE_EMULATOR_URL", "ftp://x", "GOOGLE_EMULATOR_URL"),
        ("DRIVEGUARD_ENCRYPTION_KEYS", "k1:c2hvcnQ", "must decode to 32 bytes"),
        ("DRIVEGUARD_ENCRYPTION_KEYS", "nocolon", "DRIVEGUARD_ENCRYPTION_KEYS"),
        ("DRIVEGUARD_SECRET_KEY", "too-short", "DRIVEGUARD_SECRET_KEY"),
        ("STORAGE_WARNING_THRESHOLD_PERCENT", "eighty", "STORAGE_WARNING_THRESHOLD_PERCENT"),
        ("STORAGE_CRITICAL_THRESHOLD_PERCENT", "150", "between"),
        ("SESSION_COOKIE_SECURE", "maybe", "SESSION_COOKIE_SECURE"),
        ("API_PORT", "70000", "API_PORT"),
        ("GOOGLE_DRIVE_API_URL", "https://www.googleapis.com/drive/v3", "must end in /drive/v3/"),
        ("COLLECT_TOKEN_THREADS", "0", "between"),
    ],
)
def test_malformed_variable_is_named(name: str, value: str, fragment: str):
    problems = problems_for(**{name: value})
    assert any(fragment in p and name in p for p in problems), problems


def test_warning_must_be_below_critical():
    problems = problems_for(STORAGE_WARNING_THRESHOLD_PERCENT="95", STORAGE_CRITICAL_THRESHOLD_PERCENT="90")
    assert any("must be below" in p for p in problems)


def test_duplicate_key_ids_are_rejected():
    key = generate_encryption_key("k1")
    problems = problems_for(DRIVEGUARD_ENCRYPTION_KEYS=f"{key},{key}")
    assert any("appears twice" in p for p in problems)


def test_all_problems_are_reported_at_once():
    problems = problems_for(GOOGLE_CLIENT_ID=None, API_PORT="x", DRIVEGUARD_SECRET_KEY=None)
    assert {p.split()[0].split("=")[0] for p in problems} >= {"GOOGLE_CLIENT_ID", "API_PORT", "DRIVEGUARD_SECRET_KEY"}


def test_secrets_never_appear_in_the_settings_repr():
    settings = load()
    text = repr(settings)
    assert VALID["GOOGLE_CLIENT_SECRET"] + "'" not in text
    assert VALID["DRIVEGUARD_SECRET_KEY"] not in text
    assert VALID["DRIVEGUARD_ENCRYPTION_KEYS"].split(":")[1].split(",")[0] not in text


def test_env_file_is_read_and_real_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in VALID.items()) + "API_PORT=9001\n")
    settings = load_settings({"API_PORT": "9002"}, env_file=env_file)
    assert settings.server.port == 9002
    assert settings.google.client_id == VALID["GOOGLE_CLIENT_ID"]


def test_database_url_spellings_are_normalised_to_psycopg3():
    assert load(DATABASE_URL="postgres://u@h/db").database.url == "postgresql+psycopg://u@h/db"
    assert load(DATABASE_URL="postgresql://u@h/db").database.url == "postgresql+psycopg://u@h/db"


def test_env_example_documents_exactly_the_variables_settings_read():
    import re

    from driveguard.config import PROJECT_ROOT

    example = (PROJECT_ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE))
    source = (PROJECT_ROOT / "driveguard" / "config.py").read_text()
    read = set(re.findall(r'"([A-Z][A-Z0-9_]{3,})"', source)) - {"UTC"}
    assert read - documented == set(), "read but not documented in .env.example"
    assert documented - read == set(), "documented but never read"


def test_collect_token_threads_default_and_override():
    assert load().pipelines.collect_token_threads == 8
    assert load(COLLECT_TOKEN_THREADS="16").pipelines.collect_token_threads == 16


def test_backfill_auth_defaults_to_the_admins_grant_and_service_account_needs_the_admin():
    settings = load()
    assert (settings.pipelines.backfill_auth, settings.pipelines.backfill_gcp_conn_id) == (
        "oauth",
        "google_cloud_default",
    )
    chosen = load(
        BACKFILL_AUTH="service_account", BACKFILL_GCP_CONN_ID="workspace", GOOGLE_WORKSPACE_ADMIN_EMAIL="a@acme.example"
    )
    assert (chosen.pipelines.backfill_auth, chosen.pipelines.backfill_gcp_conn_id) == ("service_account", "workspace")
    assert any("BACKFILL_AUTH='gam'" in p for p in problems_for(BACKFILL_AUTH="gam"))
    problems = problems_for(BACKFILL_AUTH="service_account", GOOGLE_WORKSPACE_ADMIN_EMAIL=None)
    assert any(p.startswith("BACKFILL_AUTH=service_account needs GOOGLE_WORKSPACE_ADMIN_EMAIL") for p in problems)
    assert load().pipelines.backfill_partial_max_attempts == 8
    assert any("between" in p for p in problems_for(BACKFILL_PARTIAL_MAX_ATTEMPTS="0"))
