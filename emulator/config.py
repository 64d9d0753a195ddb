"""Tunable behaviour of the emulator, kept in one dataclass.

Every knob here has Google's real value as its default, so that an emulator nobody tuned
behaves like Google; tests and demos change them through the admin API (`/_emulator/config`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

DEFAULT_CLIENT_ID = "driveguard-local.apps.googleusercontent.com"
DEFAULT_CLIENT_SECRET = "driveguard-local-secret"  # noqa: S105 - a public demo value
DEFAULT_REDIRECT_URIS = (
    "http://127.0.0.1:8000/auth/callback",
    "http://localhost:8000/auth/callback",
)

NOT_READY_MODES = ("warning", "error")
BATCH_OVERFLOW_MODES = ("part_errors", "reject")
BOOLEAN_KEYS = ("rotate_refresh_tokens", "refresh_reuse_revokes_grant")


@dataclass
class EmulatorConfig:
    """Behaviour switches; all durations are in seconds unless named otherwise."""

    issuer: str | None = None
    """Fixed `iss` for id_tokens and discovery; None means the base URL the request used."""
    access_token_ttl: int = 3599
    rotate_refresh_tokens: bool = False
    """Every refresh answers a new refresh token and the presented one dies (RFC 9700 rotation), for every
    account; an account's own `rotate_refresh_tokens` switches it on for that account alone."""
    refresh_reuse_revokes_grant: bool = False
    """Presenting a refresh token that was already rotated away revokes the whole grant (reuse detection,
    as certified providers do under rotation): a client that blindly resends after a lost answer loses it."""
    code_ttl: int = 600
    refresh_token_limit: int = 100
    """Google keeps at most this many refresh tokens per account per client."""
    refresh_token_idle_days: int = 183
    """A refresh token unused this long dies (Google: six months)."""
    testing_refresh_token_days: int = 7
    """Refresh tokens of clients in "Testing" publishing status die after this many days."""
    pending_auth_ttl: int = 1800
    certs_max_age: int = 19845
    key_overlap_seconds: int = 86400
    """After a rotation the old key stays in the JWKS this long."""
    reports_lag_days: int = 2
    reports_not_ready: str = "warning"
    """`warning`: 200 with DATA_NOT_AVAILABLE; `error`: 400 "Data for dates later than …"."""
    reports_partial_percent: int = 0
    """1-99: a published day answers only this share of the domain's users, with a
    PARTIAL_DATA_AVAILABLE warning (Google's "some users are missing"); 0: every day is complete."""
    reports_partial_dates: str = ""
    """Comma-separated ISO dates the partial answer applies to; empty: every date."""
    reports_utc_offset_hours: int = -8
    """Reports dates are Pacific time (UTC-8) like Google's."""
    batch_max_parts: int = 100
    batch_overflow: str = "part_errors"
    """`part_errors`: parts past the limit fail one by one; `reject`: the whole batch gets 400."""
    admin_token: str | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["admin_token"] = bool(self.admin_token)
        return data

    def update(self, values: dict[str, Any]) -> list[str]:
        """Apply a partial update; return the names of unknown or invalid keys."""
        known = {f.name: f for f in fields(self)}
        bad: list[str] = []
        for name, value in values.items():
            if name not in known or name == "admin_token":
                bad.append(name)
                continue
            if name == "reports_not_ready" and value not in NOT_READY_MODES:
                bad.append(name)
                continue
            if name == "batch_overflow" and value not in BATCH_OVERFLOW_MODES:
                bad.append(name)
                continue
            if name == "reports_partial_percent" and not (isinstance(value, int) and 0 <= value <= 99):
                bad.append(name)
                continue
            if name == "reports_partial_dates" and not isinstance(value, str):
                bad.append(name)
                continue
            if name in BOOLEAN_KEYS:
                if not isinstance(value, bool):
                    bad.append(name)
                    continue
                setattr(self, name, value)
                continue
            if name != "issuer" and not isinstance(value, int | float | str):
                bad.append(name)
                continue
            if name not in ("issuer", "reports_not_ready", "batch_overflow", "reports_partial_dates"):
                try:
                    value = int(value)
                except (TypeError, ValueError):
                    bad.append(name)
                    continue
            setattr(self, name, value)
        return bad
