"""Google sign-in: the authorization-code flow with PKCE (S256), a one-time state bound to the
browser, a nonce, and a single transaction for everything a successful sign-in writes.

Binding: `begin` makes a random `state` (travels through Google) per attempt and binds it to a
browser secret (travels only in a short-lived HttpOnly cookie). A browser that already holds one
keeps it, so several sign-ins started in several tabs each have their own state row and all finish;
the cookie is never cleared by a callback, so a forged or replayed callback cannot end a genuine
attempt (it simply expires). The database keeps the SHA-256 of each;
the PKCE verifier and the nonce are HMACs of the browser secret and the state under a key
derived from DRIVEGUARD_SECRET_KEY, so nothing that could complete a sign-in is stored. The
callback consumes the state row first (committed on its own, so a replay fails even if the rest
of the sign-in fails), then exchanges the code, verifies the id_token, and writes the account,
its sealed tokens, the new session and the audit row in one transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
import secrets
import uuid
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy import Engine, select

from driveguard import audit
from driveguard.audit import Action, RequestContext
from driveguard.clock import Clock, utcnow
from driveguard.config import LOGIN_SCOPES, SCOPE_REPORTS_USAGE, Settings
from driveguard.db.engine import transaction
from driveguard.db.models import AccountStatus, GoogleAccount, OAuthLoginState
from driveguard.errors import DriveguardError, Forbidden, InvalidInput, Unavailable, UpstreamFailed
from driveguard.google.oauth import (
    GoogleOAuthClient,
    GoogleOAuthError,
    IdTokenError,
    InvalidGrant,
    TransientGoogleError,
    b64url,
    pkce_challenge,
)
from driveguard.identity.sessions import IssuedSession, SessionService, hash_token, well_formed
from driveguard.identity.sql import load_sql
from driveguard.identity.tokens import MissingRefreshToken, TokenService

logger = logging.getLogger(__name__)

LOGIN_STATE_TTL = dt.timedelta(minutes=10)
EXPIRED_STATES_PER_SWEEP = 500
"""Each sign-in start deletes up to this many expired state rows: they go soon after they expire."""
DEFAULT_NEXT = "/me"
_NEXT_ALLOWED = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@/%?]*")


class LoginError(DriveguardError):
    """A sign-in that cannot finish. `code` is stable (tests, audit); `title`/`detail` are for people.

    The subclass says what kind of failure it is (the caller's, Google's, ...); the door picks the status.
    """

    def __init__(self, code: str, title: str, detail: str) -> None:
        super().__init__(detail, code=code, title=title)


class LoginRefused(LoginError, InvalidInput):
    """The sign-in request or Google's answer to it is not acceptable; start again."""


class LoginCancelled(LoginError, Forbidden):
    """The person declined at Google's consent page."""


class GoogleRefusedLogin(LoginError, UpstreamFailed):
    """Google answered with a failure Driveguard cannot recover from."""


class GoogleUnavailableForLogin(LoginError, Unavailable):
    """Google is not answering right now."""


@dataclass(frozen=True)
class LoginStart:
    authorization_url: str = field(repr=False)
    browser_secret: str = field(repr=False)
    expires_at: dt.datetime
    max_age_seconds: int


@dataclass(frozen=True)
class LoginResult:
    """A finished sign-in, or (`retry_with_consent`) a request to run it again with consent."""

    next_path: str
    account_id: uuid.UUID | None = None
    email: str | None = None
    session: IssuedSession | None = None
    retry_with_consent: bool = False


def safe_next_path(value: str | None) -> str | None:
    """`value` if it is a same-site relative path (no scheme, host, `//` or backslash), else None."""
    if not value or len(value) > 512 or not value.startswith("/") or value.startswith("//"):
        return None
    if "\\" in value or not _NEXT_ALLOWED.fullmatch(value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return value


class LoginService:
    """Begin and complete Google sign-ins (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        tokens: TokenService,
        sessions: SessionService,
        *,
        oauth: GoogleOAuthClient | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.tokens = tokens
        self.sessions = sessions
        self.oauth = oauth or tokens.oauth
        self.clock = clock
        self._key = hmac.new(settings.security.secret_key.encode(), b"driveguard/login/v1", hashlib.sha256).digest()

    def _derive(self, label: str, browser_secret: str, state: str) -> str:
        message = f"{label}|{browser_secret}|{state}".encode()
        return b64url(hmac.new(self._key, message, hashlib.sha256).digest())

    def begin(
        self,
        *,
        next_path: str | None = None,
        force_consent: bool = False,
        current_session: str | None = None,
        workspace_reports: bool = False,
        browser_secret: str | None = None,
    ) -> LoginStart:
        """Record a one-time state and build Google's authorization URL.

        `prompt=consent` (which makes Google issue a refresh token) unless the browser already
        has a session for an active account whose refresh token is stored; then the account
        is hinted and consent is skipped. `workspace_reports` asks the configured Workspace admin
        for the Admin Reports usage scope too (incremental authorization), which the backfill needs.
        """
        now = self.clock()
        state = secrets.token_urlsafe(32)
        if browser_secret is None or not well_formed(browser_secret):
            browser_secret = secrets.token_urlsafe(32)
        prompt: str | None = "consent"
        login_hint: str | None = None
        scopes: tuple[str, ...] = LOGIN_SCOPES
        if workspace_reports:
            admin_email = self.settings.google.workspace_admin_email
            if not admin_email:
                raise LoginRefused(
                    "workspace_admin_not_configured",
                    "Workspace backfill is not configured",
                    "Set GOOGLE_WORKSPACE_ADMIN_EMAIL to the Workspace admin whose grant reads usage reports.",
                )
            scopes, login_hint, force_consent = (*LOGIN_SCOPES, SCOPE_REPORTS_USAGE), admin_email, True
        with transaction(self.engine) as db:
            if not force_consent and current_session:
                info = self.sessions.authenticate(db, current_session)
                if info is not None:
                    account = db.get(GoogleAccount, info.account_id)
                    if (
                        account is not None
                        and account.status == AccountStatus.ACTIVE
                        and account.refresh_token_ciphertext is not None
                    ):
                        prompt, login_hint = None, account.email
            db.execute(load_sql("delete_expired_login_states"), {"cutoff": now, "limit": EXPIRED_STATES_PER_SWEEP})
            db.add(
                OAuthLoginState(
                    state_hash=hash_token(state),
                    browser_hash=hash_token(browser_secret),
                    next_path=safe_next_path(next_path),
                    prompt=prompt,
                    expires_at=now + LOGIN_STATE_TTL,
                )
            )
        url = self.oauth.authorization_url(
            state=state,
            code_challenge=pkce_challenge(self._derive("pkce", browser_secret, state)),
            nonce=self._derive("nonce", browser_secret, state),
            scopes=scopes,
            prompt=prompt,
            login_hint=login_hint,
        )
        return LoginStart(url, browser_secret, now + LOGIN_STATE_TTL, int(LOGIN_STATE_TTL.total_seconds()))

    def _consume_state(self, state: str, browser_secret: str | None) -> OAuthLoginState:
        """Mark the state used (committed at once); LoginError if it is unknown, used, expired or foreign."""
        now = self.clock()
        if not well_formed(state):
            raise LoginRefused("state_invalid", "Sign-in link not recognised", "The sign-in state is malformed.")
        with transaction(self.engine) as db:
            record = db.scalars(
                select(OAuthLoginState).where(OAuthLoginState.state_hash == hash_token(state)).with_for_update()
            ).one_or_none()
            if record is None:
                raise LoginRefused("state_invalid", "Sign-in link not recognised", "This sign-in was not started here.")
            if record.consumed_at is not None:
                raise LoginRefused(
                    "state_replayed", "Sign-in link already used", "This sign-in has already been completed."
                )
            if record.expires_at <= now:
                raise LoginRefused("state_expired", "Sign-in took too long", "Please start the sign-in again.")
            if not browser_secret or not hmac.compare_digest(hash_token(browser_secret), record.browser_hash):
                raise LoginRefused(
                    "state_mismatch",
                    "Sign-in started in another browser",
                    "This sign-in was started in a different browser or its cookie has expired.",
                )
            record.consumed_at = now
            db.flush()
            db.expunge(record)
        return record

    def _audit_failure(self, code: str, context: RequestContext, email: str | None = None) -> None:
        with transaction(self.engine) as db:
            audit.record(
                db,
                action=Action.LOGIN_FAILED,
                actor=email or audit.ANONYMOUS_ACTOR,
                subject=email,
                context=context,
                details={"reason": code},
                at=self.clock(),
            )

    def complete(
        self,
        *,
        state: str | None,
        code: str | None,
        error: str | None,
        browser_secret: str | None,
        context: RequestContext,
        current_session: str | None = None,
        issuer: str | None = None,
    ) -> LoginResult:
        """Finish the sign-in from Google's redirect; LoginError (audited) on any failure."""
        try:
            return self._complete(state, code, error, browser_secret, context, current_session, issuer)
        except LoginError as exc:
            logger.info("sign-in failed: %s", exc.code)
            self._audit_failure(exc.code, context)
            raise

    def _complete(
        self,
        state: str | None,
        code: str | None,
        error: str | None,
        browser_secret: str | None,
        context: RequestContext,
        current_session: str | None,
        issuer: str | None,
    ) -> LoginResult:
        if not state:
            raise LoginRefused("state_missing", "Sign-in link incomplete", "The sign-in state is missing.")
        record = self._consume_state(state, browser_secret)
        assert browser_secret is not None
        next_path = record.next_path or DEFAULT_NEXT
        if error:
            if error == "access_denied":
                raise LoginCancelled(
                    "access_denied",
                    "Sign-in cancelled",
                    "Google access was not granted, so you are not signed in.",
                )
            raise GoogleRefusedLogin("google_error", "Google refused the sign-in", f"Google answered: {error[:64]}")
        if issuer is not None and issuer not in self.settings.google.endpoints.issuers:
            raise LoginRefused("issuer_mismatch", "Sign-in answer not from Google", "The issuer is not Google.")
        if not code or len(code) > 2048:
            raise LoginRefused("code_missing", "Sign-in link incomplete", "Google sent no authorization code.")
        try:
            tokens = self.oauth.exchange_code(code, self._derive("pkce", browser_secret, state))
        except InvalidGrant:
            raise LoginRefused(
                "code_invalid", "Sign-in expired", "The authorization code is expired or already used."
            ) from None
        except TransientGoogleError:
            raise GoogleUnavailableForLogin(
                "google_unavailable", "Google is not answering", "Please try signing in again shortly."
            ) from None
        except GoogleOAuthError as exc:
            raise GoogleRefusedLogin(
                "google_error", "Google refused the sign-in", f"Google answered: {exc.error}"
            ) from None
        if tokens.id_token is None:
            raise GoogleRefusedLogin("id_token_invalid", "Sign-in could not be verified", "Google sent no id_token.")
        try:
            identity = self.oauth.verify_id_token(
                tokens.id_token, nonce=self._derive("nonce", browser_secret, state), access_token=tokens.access_token
            )
        except IdTokenError as exc:
            raise LoginRefused("id_token_invalid", "Sign-in could not be verified", str(exc)) from None
        except TransientGoogleError:
            raise GoogleUnavailableForLogin(
                "google_unavailable", "Google is not answering", "Please try signing in again shortly."
            ) from None
        try:
            with transaction(self.engine) as db:
                account = self.tokens.store_grant(db, identity=identity, tokens=tokens)
                issued = self.sessions.issue(db, account.id, context=context, replaces=current_session)
                audit.record(
                    db,
                    action=Action.LOGIN,
                    actor=identity.email,
                    actor_account_id=account.id,
                    subject=identity.email,
                    context=context,
                    details={"session_id": issued.session_id, "scopes": sorted(tokens.scopes)},
                    at=self.clock(),
                )
        except MissingRefreshToken:
            if record.prompt != "consent":
                return LoginResult(next_path=next_path, retry_with_consent=True)
            raise GoogleRefusedLogin(
                "no_offline_access",
                "Google granted no offline access",
                "Google did not issue a refresh token, so Driveguard could not keep you signed in.",
            ) from None
        logger.info("account %s signed in", account.id)
        return LoginResult(next_path=next_path, account_id=account.id, email=identity.email, session=issued)
