"""Helpers for sign-in, token and session tests: the API over real HTTP in front of a clean
database and the emulator, plus shortcuts to read rows and to seed accounts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import Engine, func, select

from driveguard.audit import ReadAudit
from driveguard.config import Settings
from driveguard.db.engine import transaction
from driveguard.db.models import AuditLog, GoogleAccount, OAuthLoginState, UserSession
from driveguard.google.oauth import TokenResponse
from driveguard.identity.passwords import hash_password
from driveguard.identity.tokens import TokenService
from support.clock import OffsetClock
from support.emulator import GoogleEmulator

ADMIN_EMAIL = "erin@northwind.example"
ADMIN_USER, ADMIN_PASSWORD = "ops", "correct horse battery staple"
ADMIN_HASH = hash_password(ADMIN_PASSWORD, log2_n=10)


def deployment_env(base_env: dict[str, str], emulator_url: str, api_url: str, **extra: str) -> dict[str, str]:
    return {
        **base_env,
        "GOOGLE_EMULATOR_URL": emulator_url,
        "GOOGLE_REDIRECT_URI": f"{api_url}/auth/callback",
        "DRIVEGUARD_ADMIN_EMAILS": ADMIN_EMAIL,
        "DRIVEGUARD_ADMIN_USERS": f"{ADMIN_USER}:{ADMIN_HASH}",
        **extra,
    }


@dataclass
class Sleeps:
    """An injectable `sleep` that records instead of waiting."""

    calls: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@dataclass
class Stack:
    """The API (real HTTP) in front of a clean database, talking to the emulator."""

    url: str
    settings: Settings
    engine: Engine
    clock: OffsetClock
    emu: GoogleEmulator
    browser: httpx.Client
    sleeps: Sleeps
    read_audit: ReadAudit | None = None
    """The API's buffered audit of reads, flushed before the audit log is read."""

    def token_service(self, **kwargs: Any) -> TokenService:
        """A token service like a DAG task would build: same settings, database and clock."""
        kwargs.setdefault("sleep", self.sleeps)
        kwargs.setdefault("clock", self.clock)
        return TokenService(self.settings, self.engine, **kwargs)

    def advance(self, seconds: float) -> None:
        """Move Driveguard's clock and the emulator's together."""
        self.clock.advance(seconds)
        self.emu.advance_clock(seconds)

    def account(self, email: str) -> GoogleAccount:
        with transaction(self.engine) as db:
            account = db.scalars(select(GoogleAccount).where(GoogleAccount.email == email)).one()
            db.expunge(account)
            return account

    def count(self, model: type) -> int:
        with transaction(self.engine) as db:
            return int(db.scalar(select(func.count()).select_from(model)) or 0)

    def counts(self) -> dict[str, int]:
        return {
            "accounts": self.count(GoogleAccount),
            "sessions": self.count(UserSession),
            "login_states": self.count(OAuthLoginState),
        }

    def audit_actions(self) -> list[str]:
        if self.read_audit is not None:
            self.read_audit.flush()
        with transaction(self.engine) as db:
            return list(db.scalars(select(AuditLog.action).order_by(AuditLog.id)))

    def api(self, token: str | None = None) -> httpx.Client:
        """An API client (JSON), optionally with `Authorization: Bearer`."""
        headers = {"Accept": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def session_token(self) -> str:
        token = self.browser.cookies.get("dg_session")
        assert token, "the browser holds no session cookie"
        return token

    def admin_token(self) -> str:
        with self.api() as client:
            answer = client.post(
                "/api/auth/token", json={"grant_type": "password", "username": ADMIN_USER, "password": ADMIN_PASSWORD}
            )
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])

    def seed_account(self, email: str, service: TokenService | None = None) -> uuid.UUID:
        """An account that consented earlier: tokens from the emulator's admin grant, stored as a sign-in would."""
        nonce = uuid.uuid4().hex
        grant = self.emu.call("POST", f"/accounts/{email}/grant", {"client_id": self.emu.client_id, "nonce": nonce})
        tokens = TokenResponse(
            access_token=grant["access_token"],
            expires_in=int(grant["expires_in"]),
            scopes=tuple(grant["scope"].split()),
            refresh_token=grant.get("refresh_token"),
            id_token=grant.get("id_token"),
        )
        service = service or self.token_service()
        assert tokens.id_token is not None
        identity = service.oauth.verify_id_token(tokens.id_token, nonce=nonce, access_token=tokens.access_token)
        with transaction(self.engine) as db:
            return service.store_grant(db, identity=identity, tokens=tokens).id
