"""Who is acting: a signed-in Google user (by session) or an admin (by admin JWT).

The door resolves the caller from the request's credentials; services take it to decide what
the caller may do and to name the actor in audit rows.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from driveguard.identity.admin_auth import AdminClaims
from driveguard.identity.sessions import SessionInfo


@dataclass(frozen=True)
class Caller:
    """The authenticated caller. `role` is `admin` only with an admin JWT."""

    kind: Literal["session", "admin"]
    role: Literal["user", "admin"]
    subject: str
    via: Literal["cookie", "bearer"]
    account_id: uuid.UUID | None = None
    session: SessionInfo | None = None
    admin: AdminClaims | None = None

    @classmethod
    def of_session(cls, info: SessionInfo, via: Literal["cookie", "bearer"]) -> Caller:
        return cls("session", "user", info.email, via, info.account_id, info)

    @classmethod
    def of_admin(cls, claims: AdminClaims) -> Caller:
        return cls("admin", "admin", claims.subject, "bearer", claims.account_id, admin=claims)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def acting_account_id(self) -> uuid.UUID | None:
        """The account to record as the actor: a session's own; admins act as themselves, not an account."""
        return self.account_id if self.kind == "session" else None
