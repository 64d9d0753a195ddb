"""The one place tests get a deployment's settings from: the smallest valid environment, plus overrides."""

from __future__ import annotations

import os
from typing import Any

from driveguard.config import Settings, generate_encryption_key, load_settings

TEST_SECRET_KEY = "test-secret-key-0123456789abcdef0123456789"


def required_env(**overrides: Any) -> dict[str, Any]:
    """Every variable a deployment must set, with test values (a fresh encryption key each call).

    No DATABASE_URL and no Google emulator: a test adds what it talks to. An override of None
    removes the variable (for click's test runner, None unsets it in the child's environment).
    """
    env: dict[str, Any] = {
        "DRIVEGUARD_ENV": "test",
        "DRIVEGUARD_ENV_FILE": os.devnull,
        "GOOGLE_CLIENT_ID": "driveguard-test.apps.googleusercontent.com",
        "GOOGLE_CLIENT_SECRET": "test-client-secret",
        "GOOGLE_REDIRECT_URI": "http://127.0.0.1:8000/auth/callback",
        "DRIVEGUARD_ENCRYPTION_KEYS": generate_encryption_key("k1"),
        "DRIVEGUARD_SECRET_KEY": TEST_SECRET_KEY,
        "SESSION_COOKIE_SECURE": "false",
    }
    env.update(overrides)
    return env


def settings_for(env: dict[str, Any] | None = None, **overrides: Any) -> Settings:
    """Settings from `env` (default: `required_env()`) with overrides; no `.env` file is read."""
    merged = {**(env if env is not None else required_env()), **overrides}
    return load_settings({k: v for k, v in merged.items() if v is not None}, env_file=os.devnull)
