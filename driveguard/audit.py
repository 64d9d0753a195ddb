"""Audit trail: who did what, when and from where.

Writes are audited in the caller's transaction (`record`), so a rolled-back action leaves no
audit row claiming it happened. Reads are audited through `ReadAudit`: a read has no
transaction to join and must not become a write, so its rows are buffered in the process and
inserted in batches (see docs/architecture.md, "Audit of reads"). `details` is for ids, counts
and reason codes; keys that look like secrets are dropped and long strings cut, as a last line
of defence.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session

from driveguard.db.models import AuditLog


class Action:
    """The audit vocabulary (the `action` column)."""

    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    SESSION_REVOKED = "session_revoked"
    SESSIONS_REVOKED = "sessions_revoked"
    GRANT_REVOKED = "grant_revoked"
    REFRESH_FAILED = "token_refresh_failed"
    REAUTH_REQUIRED = "reauth_required"
    ADMIN_TOKEN_ISSUED = "admin_token_issued"  # noqa: S105 - an action name
    ADMIN_LOGIN_FAILED = "admin_login_failed"
    ADMIN_ACTION = "admin_action"
    TOKENS_REENCRYPTED = "tokens_reencrypted"
    ERASURE_REQUESTED = "erasure_requested"
    PREFERENCES_CHANGED = "preferences_changed"


SYSTEM_ACTOR = "system"
ANONYMOUS_ACTOR = "anonymous"
_SECRET_WORDS = ("token", "secret", "password", "code", "cookie", "authorization", "verifier", "key")
_MAX_TEXT = 300


@dataclass(frozen=True)
class RequestContext:
    """Where a request came from; the API builds it, background jobs use `SYSTEM`."""

    ip: str | None = None
    user_agent: str | None = None

    @staticmethod
    def of(ip: str | None, user_agent: str | None) -> RequestContext:
        """Keep only a parseable IP address and a bounded user agent (the columns are INET/512)."""
        clean_ip: str | None = None
        if ip:
            try:
                clean_ip = str(ipaddress.ip_address(ip))
            except ValueError:
                clean_ip = None
        agent = user_agent[:512] if user_agent else None
        return RequestContext(clean_ip, agent)


SYSTEM = RequestContext()


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return value[:_MAX_TEXT]
    if isinstance(value, uuid.UUID | dt.datetime):
        return str(value)
    if isinstance(value, dict):
        return _clean_details(value)
    if isinstance(value, list | tuple):
        return [_clean(item) for item in value][:50]
    return value


def _clean_details(details: dict[str, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for key, value in details.items():
        lowered = key.lower()
        if any(word in lowered for word in _SECRET_WORDS) and not lowered.endswith(("_id", "_count", "_type")):
            continue
        cleaned[key] = _clean(value)
    return cleaned


def record(
    db: Session,
    *,
    action: str,
    actor: str,
    actor_account_id: uuid.UUID | None = None,
    subject: str | None = None,
    context: RequestContext = SYSTEM,
    details: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> AuditLog:
    """Add one audit row to `db` (flushed with the caller's transaction)."""
    row = AuditLog(
        actor=actor[:320],
        actor_account_id=actor_account_id,
        action=action,
        subject=subject[:320] if subject else None,
        ip_address=context.ip,
        user_agent=context.user_agent,
        details=_clean_details(details or {}),
    )
    if at is not None:
        row.occurred_at = at
    db.add(row)
    return row


log = logging.getLogger(__name__)


class ReadAudit:
    """Audit rows for reads, buffered in the process and inserted in batches by one thread.

    `note()` only appends to a list under a lock: the read that calls it performs no write and no
    COMMIT. The flusher inserts everything pending in one transaction every `flush_every` seconds,
    or sooner once `batch_rows` are waiting; `close()` flushes what is left (the API calls it at
    shutdown). The buffer is bounded: past `capacity` pending rows the reading thread flushes
    itself, so a stalled flusher slows reads down instead of losing their audit.
    """

    def __init__(
        self, engine: Engine, *, flush_every: float = 1.0, batch_rows: int = 500, capacity: int = 10_000
    ) -> None:
        self.engine = engine
        self.flush_every = flush_every
        self.batch_rows = batch_rows
        self.capacity = capacity
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def note(
        self,
        *,
        action: str,
        actor: str,
        at: dt.datetime,
        actor_account_id: uuid.UUID | None = None,
        subject: str | None = None,
        context: RequestContext = SYSTEM,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Queue one audit row for a read (`at`: when the read happened, kept as `occurred_at`)."""
        row = {
            "occurred_at": at,
            "actor": actor[:320],
            "actor_account_id": actor_account_id,
            "action": action,
            "subject": subject[:320] if subject else None,
            "ip_address": context.ip,
            "user_agent": context.user_agent,
            "details": _clean_details(details or {}),
        }
        with self._lock:
            self._pending.append(row)
            waiting = len(self._pending)
        if waiting >= self.capacity:
            self.flush()
        elif waiting >= self.batch_rows:
            self._wake.set()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def flush(self) -> int:
        """Insert every pending row in one transaction; the number written. On a database error the
        rows go back to the front of the buffer for the next attempt and the error propagates."""
        with self._flushing:
            with self._lock:
                rows, self._pending = self._pending, []
            if not rows:
                return 0
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(AuditLog), rows)
            except Exception:
                with self._lock:
                    self._pending[:0] = rows
                raise
            return len(rows)

    def start(self) -> None:
        """Start the flusher thread (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="read-audit-flusher", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop the flusher and write what is still pending."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.flush()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_every)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # the rows stay pending; the next tick tries again
                log.exception("read audit: flush failed, %d rows pending", self.pending)
