"""The outbox dispatcher: delivers `notification_outbox` rows through apprise, at least once.

Protocol per row:
1. claim (own transaction, committed): `FOR UPDATE SKIP LOCKED`, status `sending`, attempts+1,
   and a lease (`next_attempt_at` = now + NOTIFY_LEASE_SECONDS);
2. send through apprise, the idempotency key travelling with the message: an
   `Idempotency-Key` HTTP header and an `idempotency_key` JSON field for webhooks, an
   `X-Idempotency-Key` header for e-mail, and a line in every body;
3. mark (own transaction): `sent` (never selected again), or `failed` with `last_error` and a
   capped exponential backoff for the next try; after NOTIFY_MAX_ATTEMPTS it stays `failed`.

The honest window: if the process dies between 2 and 3, the row is still `sending`; once its
lease expires it is claimed and sent again with the SAME idempotency key. The same happens when
a target accepted a message but the answer was lost (a timeout). Receivers that must see each
alert exactly once dedupe on the key; nothing already marked `sent` is ever sent again, and no
two dispatchers hold the same row at once.

A database that goes away between 2 and 3 (a restart, a failover) does not open that window:
the mark is retried with backoff for a bounded time (MARK_ATTEMPTS), because the send happened
and forgetting it would send the message again once the lease runs out.

Claims are fenced: the claim's `attempts` is its token, and marking or releasing the row only
matches while the row is still `sending` at that attempt. A dispatcher whose send outlasted its
lease (the row was claimed again since) changes nothing: it logs and counts a `lost_claim`,
and the newer claim decides the row's outcome.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from driveguard.backoff import EQUAL_JITTER, Backoff
from driveguard.clock import Clock, utcnow
from driveguard.config import Settings
from driveguard.identity.vault import Vault, VaultError
from driveguard.storage.monitoring import redact_target
from driveguard.storage.sql import load_sql
from driveguard.storage.targets import open_outbox_target

logger = logging.getLogger(__name__)

HTTP_SCHEMES = frozenset({"json", "jsons", "form", "forms", "xml", "xmls"})
MAIL_SCHEMES = frozenset({"mailto", "mailtos"})
MARK_ATTEMPTS = 6
"""Tries to record a delivery's outcome while the database is unreachable (waits 0.5 s, 1, 2, 4, 8:
about 15 s, a PostgreSQL restart's worth), before the row is left to its lease."""
MARK_BACKOFF = Backoff(0.5, 8.0, jitter=EQUAL_JITTER, max_attempts=MARK_ATTEMPTS)
HTTP_HEADER = "Idempotency-Key"
MAIL_HEADER = "X-Idempotency-Key"


@dataclass(frozen=True)
class OutboxMessage:
    id: Any
    idempotency_key: str
    target: str
    title: str
    body: str
    attempts: int
    previous_status: str
    target_error: str | None = None
    """Why the sealed target could not be opened (unknown key, tampered): the row fails, nothing is sent."""


Sender = Callable[[OutboxMessage], "tuple[bool, str | None]"]
"""Delivers one message: (delivered, error). `apprise_send` in production."""
AfterSend = Callable[[OutboxMessage, bool], None]
"""Called after each send and before its outcome is recorded: the window a crash leaves open."""


def with_idempotency(target: str, key: str) -> str:
    """The apprise URL with the key added as a header (and a JSON field for json:// targets)."""
    parts = urlsplit(target)
    scheme = parts.scheme.lower()
    extra: list[str] = []
    if scheme in HTTP_SCHEMES:
        extra.append(f"+{HTTP_HEADER}={quote(key, safe='')}")
        if scheme in ("json", "jsons"):
            extra.append(f":idempotency_key={quote(key, safe='')}")
    elif scheme in MAIL_SCHEMES:
        extra.append(f"+{MAIL_HEADER}={quote(key, safe='')}")
    if not extra:
        return target
    query = "&".join([parts.query, *extra]) if parts.query else "&".join(extra)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _scrub(text: str, target: str) -> str:
    """Never store a target's credentials in last_error."""
    parts = urlsplit(target)
    for secret in (parts.password, parts.username, target):
        if secret:
            text = text.replace(secret, "***")
    return text


def apprise_send(message: OutboxMessage) -> tuple[bool, str | None]:
    import apprise

    notifier = apprise.Apprise()
    url = with_idempotency(message.target, message.idempotency_key)
    if not notifier.add(url):
        return False, f"apprise cannot use the target {redact_target(message.target)}"
    with apprise.LogCapture(level=logging.WARNING) as captured:
        ok = bool(notifier.notify(title=message.title, body=message.body, body_format=apprise.NotifyFormat.TEXT))
    if ok:
        return True, None
    detail = captured.getvalue().strip() if hasattr(captured, "getvalue") else ""
    return False, _scrub(detail[-1000:] or "apprise reported a delivery failure", message.target)


class Dispatcher:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        clock: Clock = utcnow,
        sender: Sender = apprise_send,
        after_send: AfterSend | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        p = settings.pipelines
        self.engine = engine
        self.vault = Vault(settings.security.encryption_keys)
        self.clock = clock
        self.sender = sender
        self.after_send = after_send
        self.sleep = sleep
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self.max_attempts = p.notify_max_attempts
        self.base = p.notify_backoff_base_seconds
        self.cap = p.notify_backoff_max_seconds
        self.lease = dt.timedelta(seconds=p.notify_lease_seconds)
        self.batch_size = p.notify_batch_size

    def backoff(self, attempts: int) -> dt.timedelta:
        """How long a row that failed its `attempts`-th delivery waits (the product's one backoff policy)."""
        policy = Backoff(self.base, self.cap, jitter=EQUAL_JITTER, rng=self.rng.random)
        return dt.timedelta(seconds=policy.delay(attempts - 1))

    def claim(self) -> list[OutboxMessage]:
        now = self.clock()
        with self.engine.begin() as conn:
            rows = conn.execute(
                load_sql("claim_outbox"),
                {
                    "now": now,
                    "lease_until": now + self.lease,
                    "max_attempts": self.max_attempts,
                    "limit": self.batch_size,
                },
            ).mappings()
            return [self._opened(dict(r)) for r in rows]

    def _opened(self, row: dict[str, Any]) -> OutboxMessage:
        """The claimed row with its target opened through the vault (the URL lives only in memory)."""
        blob = row.pop("target_ciphertext")
        try:
            return OutboxMessage(target=open_outbox_target(self.vault, blob, row["id"]), **row)
        except VaultError as exc:
            return OutboxMessage(target="", target_error=f"the target cannot be opened: {exc}", **row)

    def give_up_stale(self) -> int:
        with self.engine.begin() as conn:
            return len(
                conn.execute(load_sql("outbox_give_up"), {"now": self.clock(), "max_attempts": self.max_attempts}).all()
            )

    def _mark(self, message: OutboxMessage, ok: bool, error: str | None) -> bool:
        """Record the outcome; False if this claim no longer holds the row (nothing changed)."""
        now = self.clock()
        claim = {"id": message.id, "attempts": message.attempts, "now": now}
        with self.engine.begin() as conn:
            if ok:
                result = conn.execute(load_sql("mark_outbox_sent"), claim)
            else:
                result = conn.execute(
                    load_sql("mark_outbox_failed"),
                    {
                        **claim,
                        "error": (error or "unknown error")[:2000],
                        "next_attempt_at": now + self.backoff(message.attempts),
                    },
                )
            return result.rowcount == 1

    def _record(self, message: OutboxMessage, ok: bool, error: str | None) -> bool:
        """`_mark`, retried while the database is unreachable: the send happened, and a forgotten
        outcome means a second delivery after the lease (or a failure never backed off)."""
        for attempt in range(MARK_ATTEMPTS):
            try:
                return self._mark(message, ok, error)
            except OperationalError as exc:
                if attempt + 1 == MARK_ATTEMPTS:
                    raise
                wait = MARK_BACKOFF.delay(attempt, self.rng.random)
                logger.warning(
                    "cannot record the outcome of outbox row %s (database unreachable: %s); retry in %.1fs",
                    message.id,
                    type(exc.orig).__name__ if exc.orig is not None else type(exc).__name__,
                    wait,
                )
                self.sleep(wait)
        raise AssertionError("unreachable")

    def _release(self, message: OutboxMessage) -> bool:
        """Hand the row back; False if this claim no longer holds it (nothing changed)."""
        claim = {"id": message.id, "attempts": message.attempts, "now": self.clock()}
        with self.engine.begin() as conn:
            return conn.execute(load_sql("release_outbox"), claim).rowcount == 1

    @staticmethod
    def _lost_claim(message: OutboxMessage, what: str) -> None:
        logger.warning(
            "lost the claim on outbox row %s (attempt %d) to a newer claim; %s not recorded",
            message.id,
            message.attempts,
            what,
        )

    def run(self, *, max_messages: int | None = None) -> dict[str, int]:
        """Deliver what is due now; returns counts (claimed, sent, failed, reclaimed, released,
        lost_claim, …)."""
        counts: Counter[str] = Counter()
        counts["gave_up"] += self.give_up_stale()
        limit = max_messages if max_messages is not None else self.batch_size * 20
        seen: set[Any] = set()
        while counts["claimed"] < limit:
            claimed_at = self.clock()
            claimed = self.claim()
            if not claimed:
                break
            for message in claimed:
                if self.clock() - claimed_at > self.lease * 0.8:
                    # Slow targets ate most of the lease: give the rest back rather than risk a
                    # second dispatcher claiming and sending them while this one still does.
                    if self._release(message):
                        counts["released"] += 1
                    else:
                        self._lost_claim(message, "release")
                        counts["lost_claim"] += 1
                    continue
                counts["claimed"] += 1
                if message.previous_status == "sending":
                    counts["reclaimed"] += 1
                try:
                    if message.target_error is not None:
                        ok, error = False, message.target_error
                    else:
                        ok, error = self.sender(message)
                except Exception as exc:  # a sender bug must not leave the row claimed
                    ok, error = False, f"{type(exc).__name__}: {exc}"
                    error = _scrub(error, message.target)
                if self.after_send is not None:
                    self.after_send(message, ok)
                if not self._record(message, ok, error):
                    # Our lease ran out and the row was claimed again: that claim decides.
                    self._lost_claim(message, "delivery" if ok else f"failure ({error})")
                    counts["lost_claim"] += 1
                    continue
                counts["sent" if ok else "failed"] += 1
                if not ok:
                    logger.warning(
                        "delivery to %s failed (attempt %d): %s",
                        redact_target(message.target),
                        message.attempts,
                        error,
                    )
                    if message.attempts >= self.max_attempts:
                        counts["exhausted"] += 1
            if all(m.id in seen for m in claimed):
                break  # the same failing rows again (zero backoff): stop for this run
            seen.update(m.id for m in claimed)
        keys = ("claimed", "sent", "failed", "reclaimed", "released", "lost_claim", "exhausted", "gave_up")
        return {k: counts[k] for k in keys}
