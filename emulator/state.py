"""The emulator's whole world in memory: clients, accounts, grants, tokens, clock, faults, stats.

One re-entrant lock guards everything; every operation is short, so HTTP handlers call in
from the event loop without blocking it for long. Token rules follow Google's documented
behaviour (one-time codes, PKCE, refresh-token limits and expiry, grant-wide revocation).
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import secrets
import threading
import time
from collections.abc import Iterable
from typing import Any

from .config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REDIRECT_URIS, EmulatorConfig
from .faults import FaultDecision, FaultRegistry
from .keys import KeyRing
from .models import (
    AccessToken,
    Account,
    AuthCode,
    Client,
    Grant,
    PendingAuth,
    RefreshToken,
    ValidationError,
)
from .seed import SEEDS, demo_accounts
from .service_accounts import UNAUTHORIZED_CLIENT, AssertionRefused, ServiceAccount, verify
from .stats import Stats

SCOPE_PREFIX = "https://www.googleapis.com/auth/"
USERINFO_EMAIL = SCOPE_PREFIX + "userinfo.email"
USERINFO_PROFILE = SCOPE_PREFIX + "userinfo.profile"
SCOPE_ALIASES = {"email": USERINFO_EMAIL, "profile": USERINFO_PROFILE}
PRUNE_EVERY = 5000


class OAuthFailure(Exception):
    """A token-endpoint error: HTTP status, OAuth `error` and `error_description`."""

    def __init__(self, status: int, error: str, description: str | None = None) -> None:
        super().__init__(f"{error}: {description}")
        self.status = status
        self.error = error
        self.description = description


def normalize_scopes(raw: str | Iterable[str]) -> list[str]:
    """Split and expand scopes the way Google reports them back (email -> userinfo.email)."""
    items = raw.split() if isinstance(raw, str) else list(raw)
    out: list[str] = []
    for item in items:
        scope = SCOPE_ALIASES.get(item, item)
        if scope not in out:
            out.append(scope)
    return out


def valid_scope(scope: str) -> bool:
    return scope == "openid" or (scope.startswith(SCOPE_PREFIX) and len(scope) > len(SCOPE_PREFIX))


def scope_string(scopes: Iterable[str]) -> str:
    return " ".join(sorted(scopes))


def pkce_s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def at_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def picture_url(account: Account, base: str) -> str:
    return account.picture or f"{base.rstrip('/')}/a/{account.sub}=s96-c"


class EmulatorState:
    """Everything the emulator knows; thread-safe through `lock`."""

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        seed: str = "demo",
        clients: Iterable[Client] | None = None,
    ) -> None:
        if seed not in SEEDS:
            raise ValueError(f"unknown seed {seed!r}; choose one of {SEEDS}")
        self.config = config or EmulatorConfig()
        self.initial_config = copy.copy(self.config)
        self.lock = threading.RLock()
        self.seed_name = seed
        self.initial_seed = seed
        if clients is None:
            clients = [Client(DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, list(DEFAULT_REDIRECT_URIS))]
        self.initial_clients = [Client(**c.to_dict()) for c in clients]
        self.clock_offset = 0.0
        self.keys = KeyRing(time.time())
        self.faults = FaultRegistry()
        self.stats = Stats()
        self._issued = 0
        self._load()

    # ---------------------------------------------------------------- lifecycle and clock
    def _load(self) -> None:
        self.clients: dict[str, Client] = {c.client_id: Client(**c.to_dict()) for c in self.initial_clients}
        self.accounts: dict[str, Account] = {}
        self.grants: dict[tuple[str, str], Grant] = {}
        self.codes: dict[str, AuthCode] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.pending: dict[str, PendingAuth] = {}
        self.service_accounts: dict[str, ServiceAccount] = {}
        if self.seed_name == "demo":
            for payload in demo_accounts(self.reports_today()):
                account = Account.create(payload)
                self.accounts[account.email] = account

    def reset(self, seed: str | None = None) -> None:
        """Back to a seed (default: the one we started with): accounts, clients, tokens, config,
        clock, faults, stats and keys all return to their initial state."""
        with self.lock:
            if seed is not None and seed not in SEEDS:
                raise ValidationError(f"seed: choose one of {', '.join(SEEDS)}")
            self.seed_name = seed or self.initial_seed
            self.clock_offset = 0.0
            self.config = copy.copy(self.initial_config)
            self.faults.clear()
            self.stats.reset()
            self.keys.reset()
            self._load()

    def now(self) -> float:
        return time.time() + self.clock_offset

    def reports_today(self) -> dt.date:
        """Reports dates are in Pacific time (fixed UTC-8 like the API's documentation)."""
        shifted = self.now() + self.config.reports_utc_offset_hours * 3600
        return dt.datetime.fromtimestamp(shifted, dt.UTC).date()

    def evaluate_faults(
        self, group: str, email: str | None, project: str | None, *, errors: bool = True, at: float | None = None
    ) -> FaultDecision:
        """`at`: when the request arrived (a batch's parts all arrive with the batch), default now."""
        with self.lock:
            now = self.now() if at is None else at
            self.stats.arrival(group, now)
            decision = self.faults.evaluate(group, email, project, now, errors=errors)
            if decision.error is not None:
                self.stats.fault(group, decision.error.kind)
            return decision

    def late_answer(self, group: str, email: str | None) -> float:
        """Seconds to hold an answer already acted on (fault `late_answer`); counted in stats."""
        with self.lock:
            seconds = self.faults.late_answer(group, email)
            if seconds:
                self.stats.late_answers[group] += 1
            return seconds

    # ---------------------------------------------------------------- clients and accounts
    def upsert_client(self, payload: dict[str, Any]) -> Client:
        client_id = payload.get("client_id")
        if not isinstance(client_id, str) or not client_id:
            raise ValidationError("client_id: required")
        with self.lock:
            client = self.clients.get(client_id)
            if client is None:
                secret = payload.get("client_secret")
                if not isinstance(secret, str) or not secret:
                    raise ValidationError("client_secret: required for a new client")
                client = self.clients[client_id] = Client(client_id, secret)
            if "client_secret" in payload:
                if not isinstance(payload["client_secret"], str) or not payload["client_secret"]:
                    raise ValidationError("client_secret: must be a non-empty string")
                client.client_secret = payload["client_secret"]
            for key in ("redirect_uris", "add_redirect_uris"):
                uris = payload.get(key)
                if uris is None:
                    continue
                if not isinstance(uris, list) or not all(isinstance(u, str) and u for u in uris):
                    raise ValidationError(f"{key}: must be a list of URLs")
                if key == "redirect_uris":
                    client.redirect_uris = list(dict.fromkeys(uris))
                else:
                    client.redirect_uris = list(dict.fromkeys([*client.redirect_uris, *uris]))
            if "name" in payload:
                client.name = str(payload["name"])
            if "testing" in payload:
                client.testing = bool(payload["testing"])
            return client

    def upsert_accounts(self, payloads: list[dict[str, Any]]) -> list[Account]:
        """Create or update many accounts at once; all-or-nothing on validation errors."""
        staged: list[tuple[Account, dict[str, Any] | None]] = []
        with self.lock:
            for index, payload in enumerate(payloads):
                if not isinstance(payload, dict):
                    raise ValidationError(f"accounts[{index}]: must be an object")
                email = str(payload.get("email", "")).strip().lower()
                existing = self.accounts.get(email)
                try:
                    if existing is None:
                        staged.append((Account.create(payload), None))
                    else:
                        probe = Account(**{**existing.__dict__, "history": dict(existing.history)})
                        probe.apply(payload)
                        staged.append((existing, payload))
                except ValidationError as exc:
                    raise ValidationError(f"accounts[{index}] {exc}") from exc
            out: list[Account] = []
            for account, update in staged:
                if update is not None:
                    account.apply(update)
                self.accounts[account.email] = account
                out.append(account)
            return out

    def patch_account(self, email: str, payload: dict[str, Any]) -> Account | None:
        with self.lock:
            account = self.accounts.get(email.lower())
            if account is None:
                return None
            probe = Account(**{**account.__dict__, "history": dict(account.history)})
            probe.apply(payload)
            account.apply(payload)
            return account

    def delete_account(self, email: str) -> bool:
        with self.lock:
            account = self.accounts.pop(email.lower(), None)
            if account is None:
                return False
            self.revoke_account(account.email)
            return True

    # ---------------------------------------------------------------- authorization
    def create_pending(self, **fields: Any) -> PendingAuth:
        with self.lock:
            now = self.now()
            ttl = self.config.pending_auth_ttl
            for key in [k for k, p in self.pending.items() if p.created + ttl < now]:
                del self.pending[key]
            pending = PendingAuth(id=secrets.token_urlsafe(24), created=now, **fields)
            self.pending[pending.id] = pending
            return pending

    def take_pending(self, pending_id: str) -> PendingAuth | None:
        with self.lock:
            pending = self.pending.pop(pending_id, None)
            if pending is None or pending.created + self.config.pending_auth_ttl < self.now():
                return None
            return pending

    def granted_scopes(self, email: str, client_id: str) -> set[str]:
        with self.lock:
            grant = self.grants.get((email, client_id))
            return set(grant.scopes) if grant else set()

    def _grant(self, email: str, client_id: str) -> Grant:
        grant = self.grants.get((email, client_id))
        if grant is None:
            grant = self.grants[(email, client_id)] = Grant(email, client_id)
        return grant

    def issue_code(self, pending: PendingAuth, email: str) -> AuthCode:
        """Record the consent and mint a one-time authorization code bound to the request."""
        with self.lock:
            grant = self._grant(email, pending.client_id)
            requested = set(pending.scopes)
            scopes = requested | grant.scopes if pending.include_granted_scopes else requested
            grant.scopes |= requested
            now = self.now()
            code = AuthCode(
                code="4/0A" + secrets.token_urlsafe(54),
                client_id=pending.client_id,
                redirect_uri=pending.redirect_uri,
                email=email,
                scopes=frozenset(scopes),
                requested_scopes=frozenset(requested),
                nonce=pending.nonce,
                code_challenge=pending.code_challenge,
                code_challenge_method=pending.code_challenge_method,
                access_type=pending.access_type,
                prompt=pending.prompt,
                include_granted_scopes=pending.include_granted_scopes,
                issued_at=now,
                expires_at=now + self.config.code_ttl,
            )
            self.codes[code.code] = code
            return code

    def authenticate_client(self, client_id: str | None, secret: str | None) -> Client:
        if not client_id:
            raise OAuthFailure(400, "invalid_request", "Could not determine client ID from request.")
        with self.lock:
            client = self.clients.get(client_id)
        if client is None:
            raise OAuthFailure(401, "invalid_client", "The OAuth client was not found.")
        if secret is None:
            raise OAuthFailure(400, "invalid_request", "client_secret is missing.")
        if not secrets.compare_digest(secret.encode(), client.client_secret.encode()):
            raise OAuthFailure(401, "invalid_client", "Unauthorized")
        return client

    def code_owner(self, code: str | None) -> str | None:
        with self.lock:
            record = self.codes.get(code or "")
            return record.email if record else None

    def refresh_owner(self, token: str | None) -> str | None:
        with self.lock:
            record = self.refresh_tokens.get(token or "")
            return record.email if record else None

    # ---------------------------------------------------------------- token endpoint
    def exchange_code(
        self, client: Client, code: str | None, redirect_uri: str | None, verifier: str | None, issuer: str, base: str
    ) -> dict[str, Any]:
        if not code:
            raise OAuthFailure(400, "invalid_request", "Missing required parameter: code")
        if not redirect_uri:
            raise OAuthFailure(400, "invalid_request", "Missing parameter: redirect_uri")
        with self.lock:
            record = self.codes.get(code)
            if record is None:
                raise OAuthFailure(400, "invalid_grant", "Malformed auth code.")
            now = self.now()
            if record.used:
                # RFC 6749 4.1.2: a replayed code revokes what it already issued.
                self._revoke_tokens(record.issued_tokens, "code_replayed")
                raise OAuthFailure(400, "invalid_grant", "Bad Request")
            if record.expires_at <= now or record.client_id != client.client_id:
                raise OAuthFailure(400, "invalid_grant", "Bad Request")
            if record.redirect_uri != redirect_uri:
                raise OAuthFailure(400, "invalid_grant", "Bad Request")
            if record.code_challenge is not None:
                if not verifier:
                    raise OAuthFailure(400, "invalid_grant", "Missing code verifier.")
                expected = pkce_s256(verifier) if record.code_challenge_method == "S256" else verifier
                if not secrets.compare_digest(expected.encode(), record.code_challenge.encode()):
                    raise OAuthFailure(400, "invalid_grant", "Invalid code verifier.")
            elif verifier:
                raise OAuthFailure(400, "invalid_grant", "code_verifier or verifier is not needed.")
            account = self.accounts.get(record.email)
            if account is None:
                raise OAuthFailure(400, "invalid_grant", "Bad Request")
            record.used = True
            grant = self._grant(record.email, client.client_id)
            refresh: RefreshToken | None = None
            if record.access_type == "offline" and ("consent" in record.prompt.split() or not grant.refresh_tokens):
                refresh = self._issue_refresh(grant, record.scopes)
                record.issued_tokens.append(refresh.token)
            access = self._issue_access(grant, record.scopes, refresh.token if refresh else None)
            record.issued_tokens.append(access.token)
            self.stats.grants["authorization_code"] += 1
            self.stats.code_by_account[record.email] += 1
            return self._token_response(account, client.client_id, access, refresh, record.nonce, issuer, base)

    def refresh(self, client: Client, token: str | None, scope: str | None, issuer: str, base: str) -> dict[str, Any]:
        if not token:
            raise OAuthFailure(400, "invalid_request", "Missing required parameter: refresh_token")
        with self.lock:
            record = self.refresh_tokens.get(token)
            dead = OAuthFailure(400, "invalid_grant", "Token has been expired or revoked.")
            if record is None or record.revoked:
                if record is not None:
                    self.stats.refresh_errors_by_account[record.email] += 1
                    if record.reason == "rotated" and self.config.refresh_reuse_revokes_grant:
                        self.stats.refresh_reuse_detected += 1
                        self._revoke_grant(record.email, record.client_id)
                raise dead
            now = self.now()
            if record.client_id != client.client_id:
                raise OAuthFailure(401, "unauthorized_client", "Unauthorized")
            idle_limit = self.config.refresh_token_idle_days * 86400
            testing_limit = self.config.testing_refresh_token_days * 86400
            account = self.accounts.get(record.email)
            expired = now - record.last_used > idle_limit or (client.testing and now - record.issued_at > testing_limit)
            if account is None or expired:
                record.revoked = True
                record.reason = "expired" if account else "account_deleted"
                self.stats.refresh_errors_by_account[record.email] += 1
                raise dead
            scopes = record.scopes
            if scope:
                wanted = frozenset(normalize_scopes(scope))
                extra = wanted - record.scopes
                if extra:
                    raise OAuthFailure(
                        400,
                        "invalid_scope",
                        f"Some requested scopes were invalid. {{invalid=[{', '.join(sorted(extra))}]}}",
                    )
                scopes = wanted
            record.last_used = now
            grant = self._grant(record.email, client.client_id)
            new_refresh: RefreshToken | None = None
            if account.rotate_refresh_tokens or self.config.rotate_refresh_tokens:
                new_refresh = self._issue_refresh(grant, record.scopes)
                self._revoke_tokens([record.token], "rotated")
            source = new_refresh.token if new_refresh else record.token
            access = self._issue_access(grant, scopes, source)
            self.stats.grants["refresh_token"] += 1
            self.stats.refresh_by_account[record.email] += 1
            return self._token_response(account, client.client_id, access, new_refresh, None, issuer, base)

    def direct_grant(
        self,
        email: str,
        client_id: str | None,
        scopes: list[str],
        *,
        offline: bool,
        issuer: str,
        base: str,
        nonce: str | None = None,
    ) -> dict[str, Any]:
        """Issue tokens as if the user had consented earlier (admin seeding shortcut)."""
        with self.lock:
            account = self.accounts.get(email.lower())
            if account is None:
                raise ValidationError(f"no account {email!r}")
            client = self.clients.get(client_id) if client_id else next(iter(self.clients.values()), None)
            if client is None:
                raise ValidationError(f"no client {client_id!r}")
            bad = [s for s in scopes if not valid_scope(s)]
            if bad or not scopes:
                raise ValidationError(f"scopes: invalid {bad or 'empty list'}")
            grant = self._grant(account.email, client.client_id)
            grant.scopes |= set(scopes)
            refresh = self._issue_refresh(grant, frozenset(scopes)) if offline else None
            access = self._issue_access(grant, frozenset(scopes), refresh.token if refresh else None)
            self.stats.grants["admin_grant"] += 1
            response = self._token_response(account, client.client_id, access, refresh, nonce, issuer, base)
            response["email"] = account.email
            response["client_id"] = client.client_id
            return response

    def _issue_refresh(self, grant: Grant, scopes: frozenset[str]) -> RefreshToken:
        now = self.now()
        record = RefreshToken("1//0g" + secrets.token_urlsafe(72), grant.email, grant.client_id, scopes, now, now)
        self.refresh_tokens[record.token] = record
        grant.refresh_tokens.append(record.token)
        live = [t for t in grant.refresh_tokens if not self.refresh_tokens[t].revoked]
        while len(live) > self.config.refresh_token_limit:
            oldest = self.refresh_tokens[live.pop(0)]
            oldest.revoked = True
            oldest.reason = "limit"
        grant.refresh_tokens = live
        return record

    def _issue_access(self, grant: Grant, scopes: frozenset[str], refresh_token: str | None) -> AccessToken:
        now = self.now()
        record = AccessToken(
            "ya29.a0" + secrets.token_urlsafe(96),
            grant.email,
            grant.client_id,
            scopes,
            now,
            now + self.config.access_token_ttl,
            refresh_token=refresh_token,
        )
        self.access_tokens[record.token] = record
        grant.access_tokens.add(record.token)
        self._issued += 1
        if self._issued % PRUNE_EVERY == 0:
            self._prune(now)
        return record

    def _prune(self, now: float) -> None:
        """Forget access tokens expired more than a day ago, so long demos stay small."""
        stale = [t for t, r in self.access_tokens.items() if r.expires_at < now - 86400]
        for token in stale:
            record = self.access_tokens.pop(token)
            grant = self.grants.get((record.email, record.client_id))
            if grant is not None:
                grant.access_tokens.discard(token)
        for code in [c for c, r in self.codes.items() if r.expires_at < now - 86400]:
            del self.codes[code]

    def _token_response(
        self,
        account: Account,
        client_id: str,
        access: AccessToken,
        refresh: RefreshToken | None,
        nonce: str | None,
        issuer: str,
        base: str,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "access_token": access.token,
            "expires_in": self.config.access_token_ttl,
        }
        if refresh is not None:
            body["refresh_token"] = refresh.token
        body["scope"] = scope_string(access.scopes)
        body["token_type"] = "Bearer"  # noqa: S105 - the OAuth token type, not a secret
        if "openid" in access.scopes:
            body["id_token"] = self._id_token(account, client_id, access, nonce, issuer, base)
        return body

    def _id_token(
        self, account: Account, client_id: str, access: AccessToken, nonce: str | None, issuer: str, base: str
    ) -> str:
        # iat/exp use the real wall clock: verifiers (PyJWT) reject an iat in their future, and
        # the product's clock is the real one even when the emulator's clock is shifted.
        issued = int(time.time())
        claims: dict[str, Any] = {"iss": issuer, "azp": client_id, "aud": client_id, "sub": account.sub}
        if account.domain:
            claims["hd"] = account.domain
        if USERINFO_EMAIL in access.scopes:
            claims["email"] = account.email
            claims["email_verified"] = account.email_verified
        claims["at_hash"] = at_hash(access.token)
        if nonce:
            claims["nonce"] = nonce
        if USERINFO_PROFILE in access.scopes:
            claims["name"] = account.name
            claims["picture"] = picture_url(account, base)
            claims["given_name"] = account.given_name
            claims["family_name"] = account.family_name
        claims["iat"] = issued
        claims["exp"] = issued + 3600
        with self.lock:
            return self.keys.sign(claims)

    # ---------------------------------------------------------------- service accounts (RFC 7523)
    def jwt_bearer(self, assertion: str | None, token_uri: str) -> dict[str, Any]:
        """An access token for the assertion's `sub` (or the service account itself), if the signature,
        times and domain-wide delegation allow it; raises OAuthFailure with Google's answer otherwise."""
        with self.lock:
            try:
                claims = verify(assertion, self.service_accounts, token_uri, self.now())
            except AssertionRefused as refused:
                raise OAuthFailure(refused.status, refused.error, refused.description) from None
            account: ServiceAccount = claims.pop("_account")
            scopes = frozenset(normalize_scopes(str(claims.get("scope") or "")))
            if not scopes:
                raise OAuthFailure(400, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
            subject = str(claims.get("sub") or "").lower()
            if subject and subject != account.email:
                user = self.accounts.get(subject)
                if user is None:
                    raise OAuthFailure(400, "invalid_grant", "Invalid email or User ID")
                if not scopes <= account.delegated_scopes:
                    raise OAuthFailure(401, "unauthorized_client", UNAUTHORIZED_CLIENT)
                owner = user.email
            else:
                owner = account.email  # the service account as itself: not a user of any domain
            grant = self._grant(owner, account.client_id)
            grant.scopes |= scopes
            access = self._issue_access(grant, scopes, None)
            self.stats.grants["jwt_bearer"] += 1
            return {"access_token": access.token, "expires_in": self.config.access_token_ttl, "token_type": "Bearer"}

    # ---------------------------------------------------------------- revocation and expiry
    def _revoke_tokens(self, tokens: Iterable[str], reason: str) -> None:
        for token in tokens:
            refresh = self.refresh_tokens.get(token)
            if refresh is not None and not refresh.revoked:
                refresh.revoked = True
                refresh.reason = reason
                grant = self.grants.get((refresh.email, refresh.client_id))
                if grant is not None and token in grant.refresh_tokens:
                    grant.refresh_tokens.remove(token)
            access = self.access_tokens.get(token)
            if access is not None:
                access.revoked = True

    def _revoke_grant(self, email: str, client_id: str) -> int:
        grant = self.grants.pop((email, client_id), None)
        if grant is None:
            return 0
        tokens = [t for t, r in self.refresh_tokens.items() if r.email == email and r.client_id == client_id]
        self._revoke_tokens([*tokens, *grant.access_tokens], "revoked")
        self.stats.revocations += 1
        return 1

    def revoke_token(self, token: str | None) -> bool:
        """Revoke the grant an access or refresh token belongs to; False if already dead."""
        if not token:
            return False
        with self.lock:
            now = self.now()
            access = self.access_tokens.get(token)
            refresh = self.refresh_tokens.get(token)
            if access is not None and not access.revoked and access.expires_at > now:
                self._revoke_grant(access.email, access.client_id)
                access.revoked = True
                return True
            if refresh is not None and not refresh.revoked:
                self._revoke_grant(refresh.email, refresh.client_id)
                refresh.revoked = True
                return True
            return False

    def revoke_account(self, email: str, client_id: str | None = None) -> int:
        with self.lock:
            email = email.lower()
            keys = [k for k in self.grants if k[0] == email and (client_id is None or k[1] == client_id)]
            return sum(self._revoke_grant(*key) for key in keys)

    def expire_tokens(self, email: str | None = None, client_id: str | None = None, kind: str = "access") -> int:
        """Make access tokens (or refresh tokens) dead now, as if time had passed."""
        if kind not in ("access", "refresh", "all"):
            raise ValidationError("kind: access, refresh or all")
        count = 0
        with self.lock:
            now = self.now()
            email = email.lower() if email else None

            def match(rec: AccessToken | RefreshToken) -> bool:
                return (email is None or rec.email == email) and (client_id is None or rec.client_id == client_id)

            if kind in ("access", "all"):
                for access in self.access_tokens.values():
                    if match(access) and access.expires_at > now:
                        access.expires_at = now - 1
                        count += 1
            if kind in ("refresh", "all"):
                for refresh in self.refresh_tokens.values():
                    if match(refresh) and not refresh.revoked:
                        refresh.revoked = True
                        refresh.reason = "expired"
                        grant = self.grants.get((refresh.email, refresh.client_id))
                        if grant is not None and refresh.token in grant.refresh_tokens:
                            grant.refresh_tokens.remove(refresh.token)
                        count += 1
            return count

    # ---------------------------------------------------------------- bearer tokens
    def bearer(self, authorization: str | None) -> tuple[AccessToken, Account] | str:
        """Resolve an Authorization header; on failure return `missing` or `invalid`."""
        if not authorization:
            return "missing"
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return "invalid"
        with self.lock:
            record = self.access_tokens.get(token.strip())
            if record is None or record.revoked or record.expires_at <= self.now():
                return "invalid"
            account = self.accounts.get(record.email)
            if account is None:
                return "invalid"
            return record, account

    def grants_summary(self, email: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            now = self.now()
            out = []
            for (owner, client_id), grant in sorted(self.grants.items()):
                if email is not None and owner != email.lower():
                    continue
                live_access = sum(
                    1
                    for t in grant.access_tokens
                    if (r := self.access_tokens.get(t)) and not r.revoked and r.expires_at > now
                )
                out.append(
                    {
                        "email": owner,
                        "client_id": client_id,
                        "scopes": sorted(grant.scopes),
                        "refresh_tokens": len(grant.refresh_tokens),
                        "live_access_tokens": live_access,
                    }
                )
            return out
