""" "Give me a valid access token for account X": the one token service the API and the DAGs share.

A stored access token is handed out while it has more than a safety margin left. Otherwise the
token is refreshed under a per-account PostgreSQL row lock (`SELECT … FOR UPDATE`): whoever
gets the lock first refreshes, everyone queued behind it re-reads the row and finds a fresh
token, so any number of API workers and Airflow tasks cause exactly one call to Google. The
lock's transaction covers only that one account and that one refresh (with its short retries).

- `invalid_grant` (revoked, expired, over the 100-token limit): the account becomes
  `reauth_required`, its dead tokens are dropped, history stays, nothing is retried.
- 429/403 rate limits and connections that never opened: capped exponential backoff with full
  jitter; if that is exhausted the account's failure count goes up and `TokenUnavailable` is raised.
- An *uncertain* refresh (the request was sent but its answer was lost: read timeout, reset, 5xx)
  is never resent with the same refresh token: under rotation the provider may have consumed it,
  and a second use is reuse, which revokes the whole grant. The attempt is recorded
  (`refresh_uncertain_since`, audited, logged with the account id), the next attempt waits for a
  backoff (`refresh_retry_at`) and reads the stored grant afresh under the lock. An `invalid_grant`
  while the refresh is uncertain is uncertain too (retried later), not a dead grant, until
  TOKEN_REFRESH_UNCERTAIN_SECONDS have passed since the first lost answer; then it is.
- A refresh response carrying a new refresh token (rotation) is stored in the same transaction.

The margin is never below google-auth's REFRESH_THRESHOLD (3 min 45 s): a token handed to the
Google client libraries with less left would be refreshed by them, behind this service's back.
It never exceeds half the token's own lifetime either (`access_token_issued_at`): a provider
issuing 60 s tokens would otherwise see a refresh on every call, one after another under the lock.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import httpx
from sqlalchemy import Engine, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from driveguard import audit
from driveguard.audit import Action, RequestContext
from driveguard.backoff import Backoff
from driveguard.clock import Clock, utcnow
from driveguard.config import Settings
from driveguard.db.engine import transaction
from driveguard.db.models import AccountStatus, GoogleAccount
from driveguard.google.oauth import (
    GoogleIdentity,
    GoogleOAuthClient,
    GoogleOAuthError,
    InvalidGrant,
    TokenResponse,
    UncertainAnswer,
)
from driveguard.identity.sessions import RevokeReason, SessionService
from driveguard.identity.sql import load_sql
from driveguard.identity.vault import Vault, VaultError

logger = logging.getLogger(__name__)

GOOGLE_AUTH_REFRESH_THRESHOLD_SECONDS = 225
"""google.auth._helpers.REFRESH_THRESHOLD: 3 min 45 s."""
MAX_MIN_VALID_SECONDS = 3000
"""Google's access tokens live 3599 s; asking for more than this could never be satisfied."""
DEFAULT_LOCK_TIMEOUT_SECONDS = 30
MARGIN_LIFETIME_FRACTION = 0.5
"""The refresh margin never exceeds this share of the token's own lifetime."""
UNCERTAIN_RETRY_BASE_SECONDS = 15
UNCERTAIN_RETRY_CAP_SECONDS = 600
"""Backoff between attempts after an uncertain refresh: 15 s, 30 s, 60 s … at most 10 min."""


class RefreshOutcome(StrEnum):
    """What `refresh_if_expiring` did (the token_refresh DAG counts these)."""

    REFRESHED = "refreshed"
    SKIPPED = "skipped"
    FAILED = "failed"
    REAUTH_REQUIRED = "reauth_required"


@dataclass(frozen=True)
class AccessToken:
    token: str = field(repr=False)
    expires_at: dt.datetime
    account_id: uuid.UUID


class ReauthRequired(Exception):
    """The account's grant is dead (invalid_grant, revoked, or no refresh token); it needs a new sign-in."""

    def __init__(self, account_id: uuid.UUID, reason: str) -> None:
        self.account_id = account_id
        self.reason = reason
        super().__init__(f"account {account_id} must sign in again: {reason}")


class TokenUnavailable(Exception):
    """A transient failure outlasted the retries (429/5xx/timeouts, lock wait); try again later."""

    def __init__(self, account_id: uuid.UUID, reason: str) -> None:
        self.account_id = account_id
        self.reason = reason
        super().__init__(f"no access token for account {account_id} right now: {reason}")


@dataclass(frozen=True)
class GrantRevocation:
    """What `revoke_grant` did."""

    google_revoked: bool
    """Google revoked a live grant now (False: it was already dead, or no token was stored)."""
    sessions_ended: int
    changed: bool
    """Anything was live before (tokens, an active status, or sessions)."""

    def __bool__(self) -> bool:
        """Truthy when Google revoked a live grant now (what callers counting revocations want)."""
        return self.google_revoked


class UnknownAccount(LookupError):
    """No such Google account."""


class MissingRefreshToken(Exception):
    """Google granted no refresh token and none is stored: the sign-in must ask for consent again."""


def _error_text(exc: GoogleOAuthError) -> str:
    return f"{exc.error}: {exc.description}"[:300] if exc.description else exc.error


class TokenService:
    """Access tokens on demand for the API and the DAGs (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        clock: Clock = utcnow,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        backoff: Backoff | None = None,
        rng: Callable[[], float] | None = None,
        lock_timeout_seconds: float = DEFAULT_LOCK_TIMEOUT_SECONDS,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.vault = Vault(settings.security.encryption_keys)
        # id_tokens are minted on Google's wall clock, so the OAuth client checks them against the real
        # time; `clock` drives this service's own decisions (token margins, audit times).
        self.oauth = GoogleOAuthClient(settings, http, backoff=backoff, sleep=sleep, rng=rng)
        self.default_margin = max(settings.security.token_refresh_margin_seconds, GOOGLE_AUTH_REFRESH_THRESHOLD_SECONDS)
        self.lock_timeout_ms = int(lock_timeout_seconds * 1000)
        self.sessions = SessionService(settings, clock=clock)

    def close(self) -> None:
        self.oauth.close()

    # -- reading ---------------------------------------------------------------------------

    def _margin(self, seconds: int | None) -> int:
        if seconds is None:
            return self.default_margin
        if seconds < 0 or seconds > MAX_MIN_VALID_SECONDS:
            raise ValueError(f"min_valid_seconds must be between 0 and {MAX_MIN_VALID_SECONDS}")
        return max(seconds, GOOGLE_AUTH_REFRESH_THRESHOLD_SECONDS)

    @staticmethod
    def _fresh(account: GoogleAccount, margin: int, now: dt.datetime, *, on_demand: bool = True) -> bool:
        """The stored token has more than `margin` left. On demand (a caller wants a token now) the margin
        is capped at a share of the token's lifetime; the background refresh keeps its full horizon."""
        if account.access_token_ciphertext is None or account.access_token_expires_at is None:
            return False
        if on_demand and account.access_token_issued_at is not None:
            lifetime = (account.access_token_expires_at - account.access_token_issued_at).total_seconds()
            margin = min(margin, int(lifetime * MARGIN_LIFETIME_FRACTION))
        return (account.access_token_expires_at - now).total_seconds() > margin

    @staticmethod
    def _dead_reason(account: GoogleAccount) -> str | None:
        if account.status == AccountStatus.REAUTH_REQUIRED:
            return "reauth_required"
        if account.status == AccountStatus.REVOKED:
            return "revoked"
        if account.refresh_token_ciphertext is None:
            return "no_refresh_token"
        return None

    def _access_token(self, account: GoogleAccount) -> AccessToken:
        assert account.access_token_ciphertext is not None and account.access_token_expires_at is not None
        try:
            plain = self.vault.decrypt(account.access_token_ciphertext, account_id=account.id, field="access_token")
        except VaultError as exc:
            raise TokenUnavailable(account.id, f"stored token unreadable: {exc}") from None
        return AccessToken(plain, account.access_token_expires_at, account.id)

    def get_access_token(
        self, account_id: uuid.UUID, *, min_valid_seconds: int | None = None, reject: str | None = None
    ) -> AccessToken:
        """A token valid for at least `min_valid_seconds` (default: the configured margin, ≥ 225 s).

        `reject` is a token Google answered 401 to although it looked valid here (Google expired or
        revoked it early): it is never handed out again. The stored token is refreshed under the row
        lock unless it already differs from the rejected one, so concurrent callers rejecting the
        same token cause one refresh between them.

        Raises ReauthRequired (grant dead), TokenUnavailable (transient), UnknownAccount.
        """
        margin = self._margin(min_valid_seconds)
        with transaction(self.engine) as db:
            account = db.get(GoogleAccount, account_id)
            if account is None:
                raise UnknownAccount(str(account_id))
            reason = self._dead_reason(account)
            if reason:
                raise ReauthRequired(account_id, reason)
            if self._fresh(account, margin, self.clock()):
                token = self._access_token(account)
                if reject is None or token.token != reject:
                    return token
            failures_seen = account.refresh_failure_count
        token, _ = self._refresh_locked(account_id, margin, failures_seen, reject=reject)
        return token

    def refresh_if_expiring(self, account_id: uuid.UUID, *, within_seconds: int) -> RefreshOutcome:
        """Refresh when the token expires within `within_seconds`; never raises for Google's answers.

        `skipped` also covers accounts that vanished, were revoked by their owner, or were
        refreshed by someone else meanwhile.
        """
        margin = max(0, min(int(within_seconds), MAX_MIN_VALID_SECONDS))
        margin = max(margin, GOOGLE_AUTH_REFRESH_THRESHOLD_SECONDS)
        with transaction(self.engine) as db:
            account = db.get(GoogleAccount, account_id)
            if account is None or account.status == AccountStatus.REVOKED:
                return RefreshOutcome.SKIPPED
            if self._dead_reason(account):
                return RefreshOutcome.REAUTH_REQUIRED
            if self._fresh(account, margin, self.clock(), on_demand=False):
                return RefreshOutcome.SKIPPED
            failures_seen = account.refresh_failure_count
        try:
            _, refreshed = self._refresh_locked(account_id, margin, failures_seen, on_demand=False)
        except ReauthRequired:
            return RefreshOutcome.REAUTH_REQUIRED
        except TokenUnavailable:
            return RefreshOutcome.FAILED
        except UnknownAccount:
            return RefreshOutcome.SKIPPED
        return RefreshOutcome.REFRESHED if refreshed else RefreshOutcome.SKIPPED

    def list_expiring(self, within_seconds: int, *, limit: int | None = None) -> list[uuid.UUID]:
        """Accounts due for a refresh within `within_seconds` (the one rule: SQL `refresh_due_accounts`),
        soonest first."""
        horizon = self.clock() + dt.timedelta(seconds=within_seconds)
        with self.engine.connect() as conn:
            return list(conn.scalars(load_sql("refresh_due_soonest_first"), {"horizon": horizon, "limit": limit}))

    # -- refreshing ------------------------------------------------------------------------

    def _lock(self, db: Session, account_id: uuid.UUID) -> GoogleAccount:
        db.execute(load_sql("set_lock_timeout"), {"milliseconds": str(self.lock_timeout_ms)})
        try:
            account = db.scalars(
                select(GoogleAccount)
                .where(GoogleAccount.id == account_id)
                .with_for_update()
                .execution_options(populate_existing=True)
            ).one_or_none()
        except OperationalError:
            raise TokenUnavailable(account_id, "timed out waiting for another refresh of this account") from None
        if account is None:
            raise UnknownAccount(str(account_id))
        return account

    def _refresh_locked(
        self,
        account_id: uuid.UUID,
        margin: int,
        failures_seen: int,
        *,
        reject: str | None = None,
        on_demand: bool = True,
    ) -> tuple[AccessToken, bool]:
        """Refresh under the row lock; (token, True) if this call refreshed, (token, False) if another did.

        A stored token equal to `reject` counts as expired, whatever its recorded expiry says.
        """
        failure: Exception | None = None
        with transaction(self.engine) as db:
            account = self._lock(db, account_id)
            now = self.clock()
            reason = self._dead_reason(account)
            if reason:
                raise ReauthRequired(account_id, reason)
            if self._fresh(account, margin, now, on_demand=on_demand):
                current = self._access_token(account)
                if reject is None or current.token != reject:
                    return current, False
            if account.refresh_retry_at is not None and now < account.refresh_retry_at:
                waiting = account.last_refresh_error or "refresh failed"
                raise TokenUnavailable(account_id, f"{waiting}; next attempt at {account.refresh_retry_at.isoformat()}")
            if account.refresh_failure_count > failures_seen:
                # Someone else's refresh failed while this call waited for the lock: do not
                # hammer a failing Google from every queued caller.
                raise TokenUnavailable(account_id, account.last_refresh_error or "a concurrent refresh just failed")
            try:
                refresh_token = self.vault.decrypt(
                    account.refresh_token_ciphertext or b"", account_id=account.id, field="refresh_token"
                )
                response = self.oauth.refresh(refresh_token)
            except InvalidGrant as exc:
                if self._uncertain(account, now):
                    message = f"invalid_grant right after an uncertain refresh ({_error_text(exc)})"
                    self._mark_uncertain(db, account, message, now)
                    failure = TokenUnavailable(account_id, f"uncertain: {message}")
                else:
                    self._mark_reauth_required(db, account, _error_text(exc), now)
                    failure = ReauthRequired(account_id, "invalid_grant")
            except UncertainAnswer as exc:
                self._mark_uncertain(db, account, _error_text(exc), now)
                failure = TokenUnavailable(account_id, f"uncertain: {_error_text(exc)}")
            except (GoogleOAuthError, VaultError) as exc:
                message = _error_text(exc) if isinstance(exc, GoogleOAuthError) else f"vault: {exc}"
                self._mark_failed(db, account, message, now)
                failure = TokenUnavailable(account_id, message)
            else:
                self._write_tokens(account, response, now, refresh_token=response.refresh_token or refresh_token)
                account.last_refresh_at = now
                logger.info("refreshed access token of account %s", account_id)
                return self._access_token(account), True
        assert failure is not None
        raise failure

    def _uncertain(self, account: GoogleAccount, now: dt.datetime) -> bool:
        """A lost refresh answer is recent enough that `invalid_grant` may be its echo, not a dead grant."""
        since = account.refresh_uncertain_since
        bound = self.settings.security.token_refresh_uncertain_seconds
        return since is not None and (now - since).total_seconds() < bound

    def _mark_uncertain(self, db: Session, account: GoogleAccount, message: str, now: dt.datetime) -> None:
        """Keep the stored grant, count the failure, wait a backoff before the next attempt, tell ops."""
        account.refresh_uncertain_since = account.refresh_uncertain_since or now
        account.refresh_failure_count += 1
        delay = min(
            UNCERTAIN_RETRY_CAP_SECONDS, UNCERTAIN_RETRY_BASE_SECONDS * 2 ** min(account.refresh_failure_count - 1, 10)
        )
        account.refresh_retry_at = now + dt.timedelta(seconds=delay)
        account.last_refresh_error = f"uncertain: {message}"[:300]
        logger.warning(
            "refresh of account %s is uncertain (%s): grant kept, next attempt in %ds, uncertain since %s",
            account.id,
            message,
            delay,
            account.refresh_uncertain_since.isoformat(),
        )
        audit.record(
            db,
            action=Action.REFRESH_FAILED,
            actor=audit.SYSTEM_ACTOR,
            subject=account.email,
            details={
                "account_id": account.id,
                "reason": account.last_refresh_error,
                "uncertain": True,
                "uncertain_since": account.refresh_uncertain_since.isoformat(),
                "failure_count": account.refresh_failure_count,
            },
            at=now,
        )

    def _mark_reauth_required(self, db: Session, account: GoogleAccount, message: str, now: dt.datetime) -> None:
        logger.warning("account %s needs to sign in again: %s", account.id, message)
        account.refresh_uncertain_since = None
        account.refresh_retry_at = None
        account.status = AccountStatus.REAUTH_REQUIRED
        account.access_token_ciphertext = None
        account.refresh_token_ciphertext = None
        account.token_key_id = None
        account.access_token_expires_at = None
        account.last_refresh_error = message
        account.refresh_failure_count += 1
        audit.record(
            db,
            action=Action.REAUTH_REQUIRED,
            actor=audit.SYSTEM_ACTOR,
            subject=account.email,
            details={"account_id": account.id, "reason": message},
            at=now,
        )

    def _mark_failed(self, db: Session, account: GoogleAccount, message: str, now: dt.datetime) -> None:
        logger.warning("refresh of account %s failed: %s", account.id, message)
        account.last_refresh_error = message
        account.refresh_failure_count += 1
        audit.record(
            db,
            action=Action.REFRESH_FAILED,
            actor=audit.SYSTEM_ACTOR,
            subject=account.email,
            details={"account_id": account.id, "reason": message, "failure_count": account.refresh_failure_count},
            at=now,
        )

    def _write_tokens(
        self, account: GoogleAccount, response: TokenResponse, now: dt.datetime, *, refresh_token: str
    ) -> None:
        """Seal both tokens under the newest key (so `token_key_id` describes the whole row)."""
        account.access_token_ciphertext = self.vault.encrypt(
            response.access_token, account_id=account.id, field="access_token"
        )
        account.refresh_token_ciphertext = self.vault.encrypt(
            refresh_token, account_id=account.id, field="refresh_token"
        )
        account.token_key_id = self.vault.newest_key_id
        account.access_token_expires_at = now + dt.timedelta(seconds=response.expires_in)
        account.access_token_issued_at = now
        account.refresh_uncertain_since = None
        account.refresh_retry_at = None
        if response.scopes:
            account.granted_scopes = sorted(set(response.scopes))
        account.status = AccountStatus.ACTIVE
        account.refresh_failure_count = 0
        account.last_refresh_error = None

    # -- sign-in and revocation ------------------------------------------------------------

    def store_grant(self, db: Session, *, identity: GoogleIdentity, tokens: TokenResponse) -> GoogleAccount:
        """Upsert the account by Google `sub` and seal its tokens, inside the caller's transaction.

        Google sends a refresh token only with (re)consent; without one the stored token is kept.
        Raises MissingRefreshToken when there is neither (the caller should ask for consent).
        """
        now = self.clock()
        identity_values = {
            "email": identity.email,
            "email_verified": identity.email_verified,
            "display_name": identity.name,
            "picture_url": identity.picture,
            "hosted_domain": identity.hosted_domain,
            "last_login_at": now,
        }
        account_id = db.execute(
            insert(GoogleAccount)
            .values(google_sub=identity.sub, **identity_values)
            .on_conflict_do_update(index_elements=["google_sub"], set_={**identity_values, "updated_at": now})
            .returning(GoogleAccount.id)
        ).scalar_one()
        account = db.scalars(
            select(GoogleAccount)
            .where(GoogleAccount.id == account_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one()
        refresh_token = tokens.refresh_token
        if refresh_token is None and account.refresh_token_ciphertext is not None:
            try:
                refresh_token = self.vault.decrypt(
                    account.refresh_token_ciphertext, account_id=account.id, field="refresh_token"
                )
            except VaultError:
                refresh_token = None
        if refresh_token is None:
            raise MissingRefreshToken(str(account.id))
        self._write_tokens(account, tokens, now, refresh_token=refresh_token)
        db.flush()
        return account

    def revoke_grant(
        self,
        account_id: uuid.UUID,
        *,
        actor: str = audit.SYSTEM_ACTOR,
        actor_account_id: uuid.UUID | None = None,
        context: RequestContext = audit.SYSTEM,
        end_sessions: bool = True,
    ) -> GrantRevocation:
        """Revoke the grant at Google and forget its tokens; signs the account out everywhere.

        Idempotent: a second call changes nothing and reports `changed=False`. A transient Google
        failure raises TokenUnavailable and changes nothing.
        """
        with transaction(self.engine) as db:
            account = self._lock(db, account_id)
            token: str | None = None
            for field_name in ("refresh_token", "access_token"):
                blob = getattr(account, f"{field_name}_ciphertext")
                if blob is not None and token is None:
                    try:
                        token = self.vault.decrypt(blob, account_id=account.id, field=field_name)  # type: ignore[arg-type]
                    except VaultError:
                        token = None
            revoked_now = False
            if token is not None:
                try:
                    revoked_now = self.oauth.revoke(token)
                except GoogleOAuthError as exc:
                    raise TokenUnavailable(account_id, f"revoke failed: {_error_text(exc)}") from None
            was_live = account.status != AccountStatus.REVOKED or token is not None
            account.status = AccountStatus.REVOKED
            account.access_token_ciphertext = None
            account.refresh_token_ciphertext = None
            account.token_key_id = None
            account.access_token_expires_at = None
            ended = 0
            if end_sessions:
                ended = self.sessions.revoke_all(db, account_id, reason=RevokeReason.GRANT_REVOKED)
            if was_live or ended:
                audit.record(
                    db,
                    action=Action.GRANT_REVOKED,
                    actor=actor,
                    actor_account_id=actor_account_id,
                    subject=account.email,
                    context=context,
                    details={"account_id": account.id, "google_revoked": revoked_now, "sessions_ended": ended},
                )
            logger.info("grant of account %s revoked (google: %s)", account_id, revoked_now)
            return GrantRevocation(revoked_now, ended, bool(was_live or ended))
