"""The records the emulator keeps: clients, accounts, grants and tokens.

Plain dataclasses, mutated only under `EmulatorState.lock`; the admin API converts accounts
and clients from and to JSON here so that validation lives next to the fields it checks.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

GIB = 1024**3
MIB = 1024**2


class ValidationError(ValueError):
    """A bad admin payload; the message names the offending field."""


def _digits(seed: str, n: int) -> str:
    """A deterministic decimal string of length n derived from seed."""
    value = int.from_bytes(hashlib.sha256(seed.encode()).digest(), "big")
    return str(10 ** (n - 1) + value % (9 * 10 ** (n - 1)))


def default_sub(email: str) -> str:
    """Google subjects are 21-digit numbers; derive one from the email so seeds are stable."""
    return _digits("sub:" + email.lower(), 21)


def default_permission_id(email: str) -> str:
    return _digits("perm:" + email.lower(), 20)


@dataclass
class Client:
    """An OAuth client as registered in the Cloud console."""

    client_id: str
    client_secret: str
    redirect_uris: list[str] = field(default_factory=list)
    name: str = "Driveguard"
    testing: bool = False
    """An external app in "Testing" status: refresh tokens die after 7 days."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "redirect_uris": list(self.redirect_uris),
            "name": self.name,
            "testing": self.testing,
        }


@dataclass
class DayUsage:
    """One day of an account's usage as the Reports API shows it (bytes)."""

    usage: int
    usage_in_drive: int
    usage_in_gmail: int

    def to_dict(self) -> dict[str, int]:
        return {"usage": self.usage, "usage_in_drive": self.usage_in_drive, "usage_in_gmail": self.usage_in_gmail}


@dataclass
class Account:
    """A Google account: identity, storage quota and daily usage history."""

    email: str
    sub: str
    name: str
    given_name: str
    family_name: str
    picture: str | None = None
    locale: str = "en"
    email_verified: bool = True
    domain: str | None = None
    """Workspace domain; None for a consumer (gmail) account."""
    is_admin: bool = False
    limit: int | None = 15 * GIB
    """Storage limit in bytes; None means unlimited (the Drive API then omits `limit`)."""
    usage: int = 0
    usage_in_drive: int = 0
    usage_in_drive_trash: int = 0
    usage_in_gmail: int | None = None
    """None means "the rest": usage minus Drive."""
    history: dict[str, DayUsage] = field(default_factory=dict)
    rotate_refresh_tokens: bool = False
    created: str = "2020-01-01"
    permission_id: str = ""

    @property
    def gmail_bytes(self) -> int:
        if self.usage_in_gmail is not None:
            return self.usage_in_gmail
        return max(0, self.usage - self.usage_in_drive)

    def usage_on(self, day: dt.date) -> DayUsage | None:
        """The usage Reports shows for a day: the recorded entry, else today's figures.

        Days after the last recorded one repeat the current usage, so a clock moved forward
        still has data; days before the account existed have none.
        """
        key = day.isoformat()
        if key in self.history:
            return self.history[key]
        if day.isoformat() < self.created:
            return None
        if self.history and key < max(self.history):
            return None
        return DayUsage(self.usage, self.usage_in_drive, self.gmail_bytes)

    def to_dict(self, *, with_history: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "email": self.email,
            "sub": self.sub,
            "name": self.name,
            "given_name": self.given_name,
            "family_name": self.family_name,
            "picture": self.picture,
            "locale": self.locale,
            "email_verified": self.email_verified,
            "domain": self.domain,
            "is_admin": self.is_admin,
            "limit": self.limit,
            "usage": self.usage,
            "usage_in_drive": self.usage_in_drive,
            "usage_in_drive_trash": self.usage_in_drive_trash,
            "usage_in_gmail": self.gmail_bytes,
            "rotate_refresh_tokens": self.rotate_refresh_tokens,
            "created": self.created,
            "permission_id": self.permission_id,
        }
        if with_history:
            data["history"] = {day: self.history[day].to_dict() for day in sorted(self.history)}
        return data

    @classmethod
    def create(cls, payload: dict[str, Any]) -> Account:
        email = payload.get("email")
        if not isinstance(email, str) or "@" not in email:
            raise ValidationError("email: a valid email address is required")
        email = email.strip().lower()
        local = email.split("@", 1)[0]
        given = local.split(".")[0].capitalize()
        family = "Demo"
        account = cls(
            email=email,
            sub=default_sub(email),
            name=f"{given} {family}",
            given_name=given,
            family_name=family,
            permission_id=default_permission_id(email),
        )
        account.apply(payload, creating=True)
        return account

    def apply(self, payload: dict[str, Any], *, creating: bool = False) -> None:
        """Update fields from an admin payload (partial); history entries merge by date."""
        text_fields = ("sub", "name", "given_name", "family_name", "picture", "locale", "domain", "created")
        for name in text_fields:
            if name in payload:
                value = payload[name]
                if value is not None and not isinstance(value, str):
                    raise ValidationError(f"{name}: must be a string or null")
                if name in ("sub", "name", "given_name", "family_name", "locale", "created") and value is None:
                    raise ValidationError(f"{name}: may not be null")
                setattr(self, name, value)
        if "domain" in payload and payload["domain"] is not None:
            self.domain = payload["domain"].lower()
        if creating and "domain" not in payload:
            self.domain = None
        if "name" in payload and not ({"given_name", "family_name"} & payload.keys()):
            parts = self.name.split(" ", 1)
            self.given_name = parts[0]
            self.family_name = parts[1] if len(parts) > 1 else ""
        for name in ("is_admin", "email_verified", "rotate_refresh_tokens"):
            if name in payload:
                if not isinstance(payload[name], bool):
                    raise ValidationError(f"{name}: must be true or false")
                setattr(self, name, payload[name])
        if "limit" in payload:
            self.limit = _bytes("limit", payload["limit"], nullable=True)
        for name in ("usage", "usage_in_drive", "usage_in_drive_trash"):
            if name in payload:
                setattr(self, name, _bytes(name, payload[name]))
        if "usage_in_gmail" in payload:
            self.usage_in_gmail = _bytes("usage_in_gmail", payload["usage_in_gmail"], nullable=True)
        if payload.get("history_replace"):
            self.history = {}
        if "history" in payload:
            self.history.update(_history(payload["history"]))
        if "created" in payload:
            _date("created", self.created)
        if self.is_admin and not self.domain:
            raise ValidationError("is_admin: only a Workspace account (with a domain) can be an admin")


def _bytes(name: str, value: Any, *, nullable: bool = False) -> int | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValidationError(f"{name}: must be a number of bytes")
    try:
        number = int(value)
    except ValueError as exc:
        raise ValidationError(f"{name}: must be a number of bytes") from exc
    if number < 0:
        raise ValidationError(f"{name}: must not be negative")
    return number


def _date(name: str, value: Any) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise ValidationError(f"{name}: {value!r} is not a YYYY-MM-DD date") from exc


def _history(value: Any) -> dict[str, DayUsage]:
    """Accept {date: {usage, usage_in_drive, usage_in_gmail}} or a list of {date, …}."""
    items: list[tuple[Any, Any]]
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = [(entry.get("date") if isinstance(entry, dict) else None, entry) for entry in value]
    else:
        raise ValidationError("history: must be an object keyed by date or a list")
    out: dict[str, DayUsage] = {}
    for day, entry in items:
        key = _date("history date", day).isoformat()
        if not isinstance(entry, dict):
            raise ValidationError(f"history[{key}]: must be an object")
        usage = _bytes(f"history[{key}].usage", entry.get("usage", 0)) or 0
        drive = _bytes(f"history[{key}].usage_in_drive", entry.get("usage_in_drive", usage)) or 0
        gmail_default = max(0, usage - drive)
        gmail = _bytes(f"history[{key}].usage_in_gmail", entry.get("usage_in_gmail", gmail_default)) or 0
        out[key] = DayUsage(usage, drive, gmail)
    return out


@dataclass
class AuthCode:
    """An authorization code and everything the consent bound to it."""

    code: str
    client_id: str
    redirect_uri: str
    email: str
    scopes: frozenset[str]
    requested_scopes: frozenset[str]
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    access_type: str
    prompt: str
    include_granted_scopes: bool
    issued_at: float
    expires_at: float
    used: bool = False
    issued_tokens: list[str] = field(default_factory=list)


@dataclass
class RefreshToken:
    token: str
    email: str
    client_id: str
    scopes: frozenset[str]
    issued_at: float
    last_used: float
    revoked: bool = False
    reason: str | None = None


@dataclass
class AccessToken:
    token: str
    email: str
    client_id: str
    scopes: frozenset[str]
    issued_at: float
    expires_at: float
    revoked: bool = False
    refresh_token: str | None = None


@dataclass
class Grant:
    """What one account consented to for one client, and the tokens that carry it."""

    email: str
    client_id: str
    scopes: set[str] = field(default_factory=set)
    refresh_tokens: list[str] = field(default_factory=list)
    """Live refresh tokens, oldest first (for the 100-token limit)."""
    access_tokens: set[str] = field(default_factory=set)


@dataclass
class PendingAuth:
    """An authorization request waiting on the consent page's decision."""

    id: str
    client_id: str
    redirect_uri: str
    scopes: list[str]
    state: str | None
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    access_type: str
    prompt: str
    include_granted_scopes: bool
    login_hint: str | None
    hd: str | None
    created: float
