"""The security suite's ledger: attacks tried and passed, and what the leak search looks for
(every secret issued) and in (every log line, database dumps)."""

from __future__ import annotations

import base64
from collections import Counter
from dataclasses import dataclass, field

from driveguard.config import Settings
from support.signin import ADMIN_PASSWORD


@dataclass
class Ledger:
    """Attacks tried and passed (got through), and what the leak search looks for and in."""

    tried: Counter[str] = field(default_factory=Counter)
    passed: Counter[str] = field(default_factory=Counter)
    secrets: set[str] = field(default_factory=set)
    log_lines: list[str] = field(default_factory=list)
    dumps: list[str] = field(default_factory=list)

    def attack(self, kind: str, refused: bool, what: str = "") -> None:
        """Count one attack of `kind`; one that was not refused fails the test."""
        self.tried[kind] += 1
        if not refused:
            self.passed[kind] += 1
        assert refused, f"{kind} attack got through: {what}"

    def secret(self, *values: str | None) -> None:
        self.secrets.update(value for value in values if value and len(value) >= 8)

    def remember_settings(self, settings: Settings) -> None:
        """The deployment's own secrets: the client secret, the signing secret, the encryption keys
        (as configured: unpadded base64url) and the admin's password."""
        self.secret(settings.google.client_secret, settings.security.secret_key, ADMIN_PASSWORD)
        for key in settings.security.encryption_keys:
            self.secret(base64.urlsafe_b64encode(key.secret).decode().rstrip("="))


LEDGER = Ledger()
