"""One settings object, read from the environment (and an optional `.env`) once.

Every variable lives here and in `.env.example`. A missing or malformed variable stops
startup with a `ConfigError` that names it, instead of failing later deep inside a request.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from dotenv import dotenv_values

T = TypeVar("T")

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Google's real endpoints: the defaults, so that real credentials and no emulator variable
# mean the product talks to real Google.
GOOGLE_DEFAULTS: dict[str, str] = {
    "GOOGLE_AUTH_URI": "https://accounts.google.com/o/oauth2/v2/auth",
    "GOOGLE_TOKEN_URI": "https://oauth2.googleapis.com/token",
    "GOOGLE_REVOKE_URI": "https://oauth2.googleapis.com/revoke",
    "GOOGLE_USERINFO_URI": "https://openidconnect.googleapis.com/v1/userinfo",
    "GOOGLE_JWKS_URI": "https://www.googleapis.com/oauth2/v3/certs",
    "GOOGLE_DRIVE_API_URL": "https://www.googleapis.com/drive/v3/",
    "GOOGLE_DRIVE_BATCH_URL": "https://www.googleapis.com/batch/drive/v3",
    "GOOGLE_ADMIN_API_URL": "https://admin.googleapis.com/",
}
GOOGLE_ISSUERS_DEFAULT = ("https://accounts.google.com", "accounts.google.com")
OIDC_ENDPOINT_VARIABLES = (
    "GOOGLE_AUTH_URI",
    "GOOGLE_TOKEN_URI",
    "GOOGLE_REVOKE_URI",
    "GOOGLE_USERINFO_URI",
    "GOOGLE_JWKS_URI",
)
"""The endpoints an OpenID discovery document (GOOGLE_OIDC_ISSUER) can fill; GOOGLE_ISSUERS too."""

# The same endpoints as paths on one origin: how the emulator serves them.
EMULATOR_PATHS: dict[str, str] = {
    "GOOGLE_AUTH_URI": "/o/oauth2/v2/auth",
    "GOOGLE_TOKEN_URI": "/token",
    "GOOGLE_REVOKE_URI": "/revoke",
    "GOOGLE_USERINFO_URI": "/v1/userinfo",
    "GOOGLE_JWKS_URI": "/oauth2/v3/certs",
    "GOOGLE_DRIVE_API_URL": "/drive/v3/",
    "GOOGLE_DRIVE_BATCH_URL": "/batch/drive/v3",
    "GOOGLE_ADMIN_API_URL": "/",
}

GOOGLE_API_POOL = "google_api"
"""The Airflow pool bounding every task that calls Google (slots: GOOGLE_API_POOL_SLOTS)."""

SCOPE_DRIVE_METADATA = "https://www.googleapis.com/auth/drive.metadata.readonly"
SCOPE_REPORTS_USAGE = "https://www.googleapis.com/auth/admin.reports.usage.readonly"
LOGIN_SCOPES = ("openid", "email", "profile", SCOPE_DRIVE_METADATA)


class ConfigError(RuntimeError):
    """Startup configuration is missing or malformed; the message names every bad variable."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("Invalid configuration:\n  - " + "\n  - ".join(problems))


@dataclass(frozen=True)
class EncryptionKey:
    """One AES-256-GCM key; its id is stored beside each ciphertext so old keys still decrypt."""

    key_id: str
    secret: bytes = field(repr=False)


@dataclass(frozen=True)
class GoogleEndpoints:
    auth_uri: str
    token_uri: str
    revoke_uri: str
    userinfo_uri: str
    jwks_uri: str
    drive_api_url: str
    drive_batch_url: str
    admin_api_url: str
    issuers: tuple[str, ...]


@dataclass(frozen=True)
class GoogleSettings:
    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str
    endpoints: GoogleEndpoints
    emulator_url: str | None
    request_timeout_seconds: float
    rate_limit_per_minute: int
    workspace_admin_email: str | None
    token_timeout_seconds: float = 30.0
    """How long a token-endpoint call may take: generous, since a refresh that times out after the
    provider acted is an uncertain refresh (see `driveguard.identity.tokens`)."""
    oidc_issuer: str | None = None
    """An OpenID provider whose discovery document fills the endpoints not set explicitly (None: Google's built-ins)."""
    explicit_endpoints: frozenset[str] = frozenset()
    """The endpoint variables set explicitly (discovery never overrides them)."""


@dataclass(frozen=True)
class DatabaseSettings:
    url: str | None
    airflow_url: str | None
    pool_size: int


@dataclass(frozen=True)
class AdminUser:
    """A username/password admin from DRIVEGUARD_ADMIN_USERS; only the scrypt hash is known."""

    name: str
    password_hash: str = field(repr=False)


@dataclass(frozen=True)
class SecuritySettings:
    encryption_keys: tuple[EncryptionKey, ...] = field(repr=False)
    secret_key: str = field(repr=False)
    admin_emails: frozenset[str]
    session_lifetime_days: int
    session_idle_timeout_minutes: int
    session_cookie_secure: bool
    admin_token_ttl_minutes: int
    token_refresh_margin_seconds: int
    admin_users: tuple[AdminUser, ...] = field(default=(), repr=False)
    token_refresh_uncertain_seconds: int = 3600
    """How long `invalid_grant` after an uncertain refresh (answer lost) counts as uncertain, not as a dead grant."""

    def admin_user(self, name: str) -> AdminUser | None:
        return next((user for user in self.admin_users if user.name == name), None)


@dataclass(frozen=True)
class MonitoringSettings:
    warning_threshold_percent: float
    critical_threshold_percent: float
    hysteresis_margin_percent: float
    default_quota_bytes: int
    critical_repeat_hours: int
    apprise_urls: tuple[str, ...] = field(repr=False)
    ops_apprise_urls: tuple[str, ...] = field(repr=False)


@dataclass(frozen=True)
class AirflowSettings:
    api_url: str
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class ServerSettings:
    host: str
    port: int
    public_url: str
    workers: int = 1
    """uvicorn worker processes of `python -m api` (each with its own database pool of DATABASE_POOL_SIZE)."""
    trusted_proxies: tuple[str, ...] = ()
    """Addresses or networks of the reverse proxies whose X-Forwarded-For/-Proto are believed
    (the client address for throttling and audit, https for HSTS); empty: none are."""


@dataclass(frozen=True)
class PipelineSettings:
    """How the Airflow pipelines (token refresh, collection, backfill, alerts, cleanup) behave.

    Defaults suit one machine; every value has its own variable (see docs/pipelines.md).
    """

    google_pool_slots: int = 4
    """Slots of the GOOGLE_API_POOL Airflow pool: how many tasks call Google at once. They all book from
    the one shared budget (`driveguard.google.budget`), so fewer shards than slots still use all of it."""
    refresh_shard_size: int = 500
    refresh_threads: int = 4
    collect_shard_size: int = 1000
    collect_token_threads: int = 8
    """Threads one collect task uses to make a chunk's tokens fresh (each may wait on Google's token endpoint)."""
    collect_completeness_floor_percent: float = 100.0
    """The share of active accounts that must have a snapshot for an interval before its run is green."""
    batch_size: int = 100
    google_max_attempts: int = 6
    google_backoff_base_seconds: float = 1.0
    google_backoff_max_seconds: float = 60.0
    backfill_not_ready_retry_seconds: int = 6 * 3600
    backfill_max_wait_days: int = 7
    backfill_partial_retry_seconds: int = 6 * 3600
    """Look again this long after Reports answered PARTIAL_DATA_AVAILABLE for a day."""
    backfill_partial_max_attempts: int = 8
    """Fetches of a partial day before the backfill gives up on it (stated as `gave_up_days`)."""
    backfill_auth: str = "oauth"
    """`oauth`: the Workspace admin's own grant (signed in with the Reports scope); `service_account`:
    a service account with domain-wide delegation acting as that admin (Airflow connection below)."""
    backfill_gcp_conn_id: str = "google_cloud_default"
    """The Airflow `google_cloud_platform` connection holding the service account's keyfile JSON."""
    raw_retention_days: int = 30
    outbox_retention_days: int = 30
    audit_retention_days: int = 365
    session_retention_days: int = 7
    partition_months_ahead: int = 2
    retention_chunk_size: int = 1000
    notify_max_attempts: int = 8
    notify_backoff_base_seconds: float = 30.0
    notify_backoff_max_seconds: float = 3600.0
    notify_lease_seconds: int = 300
    notify_batch_size: int = 200


@dataclass(frozen=True)
class Settings:
    env: str
    var_dir: Path
    database: DatabaseSettings
    google: GoogleSettings
    security: SecuritySettings
    monitoring: MonitoringSettings
    airflow: AirflowSettings
    server: ServerSettings
    pipelines: PipelineSettings = field(default_factory=PipelineSettings)


class _Reader:
    """Reads typed values and collects every problem before failing once."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def raw(self, name: str) -> str | None:
        value = self.env.get(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def required(self, name: str, hint: str) -> str:
        value = self.raw(name)
        if value is None:
            self.problems.append(f"{name} is required ({hint})")
            return ""
        return value

    def parse(self, name: str, default: T, parser: Callable[[str], T], what: str, *, secret: bool = False) -> T:
        """Parse a value; a `secret` one is never echoed in the error (keys, password hashes)."""
        value = self.raw(name)
        if value is None:
            return default
        try:
            return parser(value)
        except (ValueError, TypeError) as exc:
            detail = f": {exc}" if str(exc) else ""
            shown = name if secret else f"{name}={value!r}"
            self.problems.append(f"{shown} is not {what}{detail}")
            return default

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        def parse(text: str) -> int:
            number = int(text)
            if not low <= number <= high:
                raise ValueError(f"must be between {low} and {high}")
            return number

        return self.parse(name, default, parse, "a whole number")

    def number(self, name: str, default: float, low: float, high: float) -> float:
        def parse(text: str) -> float:
            number = float(text)
            if not low <= number <= high:
                raise ValueError(f"must be between {low:g} and {high:g}")
            return number

        return self.parse(name, default, parse, "a number")

    def boolean(self, name: str, default: bool) -> bool:
        def parse(text: str) -> bool:
            lowered = text.lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError("use true or false")

        return self.parse(name, default, parse, "a boolean")

    def url(self, name: str, default: str | None, *, schemes: tuple[str, ...] = ("http", "https")) -> str | None:
        return self.parse(name, default, lambda text: _check_url(text, schemes), "a URL")


BACKFILL_AUTH_MODES = ("oauth", "service_account")


def _backfill_auth(text: str) -> str:
    if text not in BACKFILL_AUTH_MODES:
        raise ValueError("choose oauth or service_account")
    return text


def _check_url(text: str, schemes: tuple[str, ...]) -> str:
    parts = urlsplit(text)
    if parts.scheme not in schemes or not parts.netloc:
        raise ValueError(f"expected an absolute {'/'.join(schemes)} URL")
    return text


def _split_list(text: str | None) -> tuple[str, ...]:
    if not text:
        return ()
    return tuple(item for item in re.split(r"[\s,]+", text) if item)


def _parse_networks(text: str) -> tuple[str, ...]:
    """Comma-separated IP addresses or CIDR networks (`10.0.0.0/8`), each checked."""
    networks = _split_list(text)
    for network in networks:
        ipaddress.ip_network(network, strict=False)  # ValueError names the variable in the problem
    return networks


def _parse_encryption_keys(text: str) -> tuple[EncryptionKey, ...]:
    keys: list[EncryptionKey] = []
    for item in _split_list(text):
        key_id, sep, encoded = item.partition(":")
        if not sep or not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", key_id):
            raise ValueError("each key must look like <id>:<base64url of 32 bytes>")
        try:
            secret = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except (binascii.Error, ValueError):
            raise ValueError(f"key {key_id!r} is not valid base64url") from None
        if len(secret) != 32:
            raise ValueError(f"key {key_id!r} must decode to 32 bytes, got {len(secret)}")
        if any(existing.key_id == key_id for existing in keys):
            raise ValueError(f"key id {key_id!r} appears twice")
        keys.append(EncryptionKey(key_id, secret))
    if not keys:
        raise ValueError("at least one key is needed")
    return tuple(keys)


def _parse_admin_users(text: str) -> tuple[AdminUser, ...]:
    """`name:<scrypt hash>` entries separated by commas or whitespace; never plaintext passwords."""
    from driveguard.identity.passwords import check_hash_format

    users: list[AdminUser] = []
    for item in _split_list(text):
        name, sep, encoded = item.partition(":")
        if not sep or not re.fullmatch(r"[A-Za-z0-9_.@-]{1,64}", name):
            raise ValueError("each entry must look like <name>:<hash from `driveguard hash-password`>")
        try:
            check_hash_format(encoded)
        except ValueError as exc:
            raise ValueError(f"user {name!r}: {exc}") from None
        if any(existing.name == name for existing in users):
            raise ValueError(f"user {name!r} appears twice")
        users.append(AdminUser(name, encoded))
    return tuple(users)


def _normalise_database_url(url: str) -> str:
    """Accept the usual spellings and always use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg2://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if not url.startswith("postgresql+psycopg://"):
        raise ValueError("expected a postgresql:// URL")
    return url


def _google_endpoints(reader: _Reader) -> tuple[GoogleEndpoints, str | None]:
    emulator = reader.url("GOOGLE_EMULATOR_URL", None)
    base = emulator.rstrip("/") if emulator else None
    values: dict[str, str] = {}
    for name, real in GOOGLE_DEFAULTS.items():
        default = base + EMULATOR_PATHS[name] if base else real
        values[name] = reader.url(name, default) or default
    issuers_default = (base,) if base else GOOGLE_ISSUERS_DEFAULT
    issuers = _split_list(reader.raw("GOOGLE_ISSUERS")) or issuers_default
    drive = values["GOOGLE_DRIVE_API_URL"]
    if not drive.endswith("/drive/v3/"):
        reader.problems.append(
            f"GOOGLE_DRIVE_API_URL={drive!r} must end in /drive/v3/ (google-api-python-client "
            "replaces the whole service path with it)"
        )
    return (
        GoogleEndpoints(
            auth_uri=values["GOOGLE_AUTH_URI"],
            token_uri=values["GOOGLE_TOKEN_URI"],
            revoke_uri=values["GOOGLE_REVOKE_URI"],
            userinfo_uri=values["GOOGLE_USERINFO_URI"],
            jwks_uri=values["GOOGLE_JWKS_URI"],
            drive_api_url=drive,
            drive_batch_url=values["GOOGLE_DRIVE_BATCH_URL"],
            admin_api_url=values["GOOGLE_ADMIN_API_URL"],
            issuers=issuers,
        ),
        emulator,
    )


def load_settings(environ: Mapping[str, str] | None = None, env_file: str | Path | None = None) -> Settings:
    """Build settings from `environ` (default: the process environment) over an optional `.env`.

    Real environment variables win over the file, so a deployment can override any line.
    """
    base_env = dict(os.environ if environ is None else environ)
    file_path = Path(env_file) if env_file is not None else Path(base_env.get("DRIVEGUARD_ENV_FILE", ".env"))
    merged: dict[str, Any] = {}
    if file_path.is_file():
        merged.update({k: v for k, v in dotenv_values(file_path).items() if v is not None})
    merged.update(base_env)
    r = _Reader(merged)

    var_dir = Path(r.raw("DRIVEGUARD_VAR_DIR") or PROJECT_ROOT / "var").resolve()
    database_url = r.parse("DATABASE_URL", None, _normalise_database_url, "a PostgreSQL URL")

    endpoints, emulator = _google_endpoints(r)
    oidc_issuer = r.url("GOOGLE_OIDC_ISSUER", None, schemes=("https", "http"))
    redirect_uri = r.url("GOOGLE_REDIRECT_URI", None)
    if redirect_uri is None and r.raw("GOOGLE_REDIRECT_URI") is None:
        r.problems.append("GOOGLE_REDIRECT_URI is required (the exact callback URL registered with Google)")
    google = GoogleSettings(
        client_id=r.required("GOOGLE_CLIENT_ID", "the OAuth client id from the Google Cloud console"),
        client_secret=r.required("GOOGLE_CLIENT_SECRET", "the OAuth client secret"),
        redirect_uri=redirect_uri or "",
        endpoints=endpoints,
        emulator_url=emulator,
        request_timeout_seconds=r.number("GOOGLE_REQUEST_TIMEOUT_SECONDS", 20.0, 0.1, 600),
        rate_limit_per_minute=r.integer("GOOGLE_RATE_LIMIT_PER_MINUTE", 6000, 1, 1_000_000),
        workspace_admin_email=r.raw("GOOGLE_WORKSPACE_ADMIN_EMAIL"),
        token_timeout_seconds=r.number("GOOGLE_TOKEN_TIMEOUT_SECONDS", 30.0, 1, 600),
        oidc_issuer=oidc_issuer,
        explicit_endpoints=frozenset(name for name in (*OIDC_ENDPOINT_VARIABLES, "GOOGLE_ISSUERS") if r.raw(name)),
    )

    keys_text = r.required("DRIVEGUARD_ENCRYPTION_KEYS", "comma-separated <id>:<base64url 32 bytes>, newest first")
    keys: tuple[EncryptionKey, ...] = ()
    if keys_text:
        keys = r.parse(
            "DRIVEGUARD_ENCRYPTION_KEYS", (), _parse_encryption_keys, "a list of encryption keys", secret=True
        )
    secret_key = r.required("DRIVEGUARD_SECRET_KEY", "a random string of at least 32 characters for signing")
    if secret_key and len(secret_key) < 32:
        r.problems.append("DRIVEGUARD_SECRET_KEY must be at least 32 characters long")
    security = SecuritySettings(
        encryption_keys=keys,
        secret_key=secret_key,
        admin_emails=frozenset(e.lower() for e in _split_list(r.raw("DRIVEGUARD_ADMIN_EMAILS"))),
        session_lifetime_days=r.integer("SESSION_LIFETIME_DAYS", 30, 1, 365),
        session_idle_timeout_minutes=r.integer("SESSION_IDLE_TIMEOUT_MINUTES", 7 * 24 * 60, 1, 365 * 24 * 60),
        session_cookie_secure=r.boolean("SESSION_COOKIE_SECURE", True),
        admin_token_ttl_minutes=r.integer("ADMIN_TOKEN_TTL_MINUTES", 15, 1, 24 * 60),
        # At least google-auth's REFRESH_THRESHOLD (3 min 45 s): a smaller margin hands out tokens
        # the Google client libraries consider expired and refresh again on every call.
        token_refresh_margin_seconds=r.integer("TOKEN_REFRESH_MARGIN_SECONDS", 300, 225, 3000),
        admin_users=r.parse("DRIVEGUARD_ADMIN_USERS", (), _parse_admin_users, "a list of admin users", secret=True),
        token_refresh_uncertain_seconds=r.integer("TOKEN_REFRESH_UNCERTAIN_SECONDS", 3600, 0, 7 * 86400),
    )

    warning = r.number("STORAGE_WARNING_THRESHOLD_PERCENT", 80.0, 1, 100)
    critical = r.number("STORAGE_CRITICAL_THRESHOLD_PERCENT", 90.0, 1, 100)
    if warning >= critical:
        r.problems.append(
            f"STORAGE_WARNING_THRESHOLD_PERCENT ({warning:g}) must be below "
            f"STORAGE_CRITICAL_THRESHOLD_PERCENT ({critical:g})"
        )
    quota_gb = r.number("DEFAULT_STORAGE_QUOTA_GB", 15.0, 0.001, 1_000_000)
    monitoring = MonitoringSettings(
        warning_threshold_percent=warning,
        critical_threshold_percent=critical,
        hysteresis_margin_percent=r.number("ALERT_HYSTERESIS_PERCENT", 2.0, 0, 50),
        default_quota_bytes=int(quota_gb * 1024**3),
        critical_repeat_hours=r.integer("CRITICAL_ALERT_REPEAT_HOURS", 24, 1, 24 * 30),
        apprise_urls=_split_list(r.raw("APPRISE_URLS")),
        ops_apprise_urls=_split_list(r.raw("OPS_APPRISE_URLS")),
    )

    airflow = AirflowSettings(
        api_url=(r.url("AIRFLOW_API_URL", "http://127.0.0.1:8080") or "").rstrip("/"),
        username=r.raw("AIRFLOW_USERNAME") or "admin",
        password=r.raw("AIRFLOW_PASSWORD") or "",
    )
    port = r.integer("API_PORT", 8000, 1, 65535)
    host = r.raw("API_HOST") or "127.0.0.1"
    server = ServerSettings(
        host=host,
        port=port,
        public_url=(r.url("API_PUBLIC_URL", f"http://{host}:{port}") or "").rstrip("/"),
        workers=r.integer("API_WORKERS", 1, 1, 64),
        trusted_proxies=r.parse("TRUSTED_PROXIES", (), _parse_networks, "a list of IP addresses or networks"),
    )
    env_name = r.raw("DRIVEGUARD_ENV") or "production"
    database = DatabaseSettings(
        url=database_url,
        airflow_url=r.parse("AIRFLOW_DATABASE_URL", None, _normalise_database_url, "a PostgreSQL URL"),
        pool_size=r.integer("DATABASE_POOL_SIZE", 5, 1, 100),
    )

    pipelines = PipelineSettings(
        google_pool_slots=r.integer("GOOGLE_API_POOL_SLOTS", 4, 1, 256),
        refresh_shard_size=r.integer("TOKEN_REFRESH_SHARD_SIZE", 500, 1, 100_000),
        refresh_threads=r.integer("TOKEN_REFRESH_THREADS", 4, 1, 64),
        collect_shard_size=r.integer("COLLECT_SHARD_SIZE", 1000, 1, 100_000),
        collect_token_threads=r.integer("COLLECT_TOKEN_THREADS", 8, 1, 64),
        collect_completeness_floor_percent=r.number("COLLECT_COMPLETENESS_FLOOR_PERCENT", 100.0, 0, 100),
        batch_size=r.integer("GOOGLE_BATCH_SIZE", 100, 1, 100),
        google_max_attempts=r.integer("GOOGLE_MAX_ATTEMPTS", 6, 1, 50),
        google_backoff_base_seconds=r.number("GOOGLE_BACKOFF_BASE_SECONDS", 1.0, 0.001, 600),
        google_backoff_max_seconds=r.number("GOOGLE_BACKOFF_MAX_SECONDS", 60.0, 0.001, 3600),
        backfill_not_ready_retry_seconds=r.integer("BACKFILL_NOT_READY_RETRY_SECONDS", 6 * 3600, 1, 7 * 86400),
        backfill_max_wait_days=r.integer("BACKFILL_MAX_WAIT_DAYS", 7, 1, 400),
        backfill_partial_retry_seconds=r.integer("BACKFILL_PARTIAL_RETRY_SECONDS", 6 * 3600, 1, 7 * 86400),
        backfill_partial_max_attempts=r.integer("BACKFILL_PARTIAL_MAX_ATTEMPTS", 8, 1, 1000),
        backfill_auth=r.parse("BACKFILL_AUTH", "oauth", _backfill_auth, "oauth or service_account"),
        backfill_gcp_conn_id=r.raw("BACKFILL_GCP_CONN_ID") or "google_cloud_default",
        raw_retention_days=r.integer("SNAPSHOT_RAW_RETENTION_DAYS", 30, 1, 3650),
        outbox_retention_days=r.integer("OUTBOX_RETENTION_DAYS", 30, 1, 3650),
        audit_retention_days=r.integer("AUDIT_RETENTION_DAYS", 365, 1, 36500),
        session_retention_days=r.integer("SESSION_RETENTION_DAYS", 7, 0, 3650),
        partition_months_ahead=r.integer("SNAPSHOT_PARTITION_MONTHS_AHEAD", 2, 0, 36),
        retention_chunk_size=r.integer("RETENTION_CHUNK_SIZE", 1000, 1, 100_000),
        notify_max_attempts=r.integer("NOTIFY_MAX_ATTEMPTS", 8, 1, 100),
        notify_backoff_base_seconds=r.number("NOTIFY_BACKOFF_BASE_SECONDS", 30.0, 0.001, 86400),
        notify_backoff_max_seconds=r.number("NOTIFY_BACKOFF_MAX_SECONDS", 3600.0, 0.001, 7 * 86400),
        notify_lease_seconds=r.integer("NOTIFY_LEASE_SECONDS", 300, 1, 86400),
        notify_batch_size=r.integer("NOTIFY_BATCH_SIZE", 200, 1, 10_000),
    )
    if pipelines.google_backoff_base_seconds > pipelines.google_backoff_max_seconds:
        r.problems.append("GOOGLE_BACKOFF_BASE_SECONDS must not exceed GOOGLE_BACKOFF_MAX_SECONDS")
    if pipelines.notify_backoff_base_seconds > pipelines.notify_backoff_max_seconds:
        r.problems.append("NOTIFY_BACKOFF_BASE_SECONDS must not exceed NOTIFY_BACKOFF_MAX_SECONDS")
    if pipelines.backfill_auth == "service_account" and not google.workspace_admin_email:
        r.problems.append(
            "BACKFILL_AUTH=service_account needs GOOGLE_WORKSPACE_ADMIN_EMAIL (the admin the service account acts as)"
        )

    if r.problems:
        raise ConfigError(r.problems)
    return Settings(
        env=env_name,
        var_dir=var_dir,
        database=database,
        google=google,
        security=security,
        monitoring=monitoring,
        airflow=airflow,
        server=server,
        pipelines=pipelines,
    )


def insecure_cookie_warning(settings: Settings) -> str | None:
    """Why nobody would stay signed in: Secure cookies on a plain-http address (browsers drop them there)."""
    if not settings.security.session_cookie_secure:
        return None
    plain = [
        f"{name}={url}"
        for name, url in (
            ("API_PUBLIC_URL", settings.server.public_url),
            ("GOOGLE_REDIRECT_URI", settings.google.redirect_uri),
        )
        if url.startswith("http://")
    ]
    if not plain:
        return None
    return (
        f"SESSION_COOKIE_SECURE is true but {' and '.join(plain)} is plain http: browsers refuse Secure cookies "
        "there, so sign-in will seem to work and leave the person signed out. Serve Driveguard over https, "
        "or set SESSION_COOKIE_SECURE=false for a local http setup."
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()


def generate_encryption_key(key_id: str) -> str:
    """A fresh `<id>:<base64url>` key entry for DRIVEGUARD_ENCRYPTION_KEYS."""
    return f"{key_id}:{base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip('=')}"
