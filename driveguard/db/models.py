"""The schema's one source of truth: SQLAlchemy models, mirrored by hand-written Alembic revisions.

Tokens live only as ciphertext (see `driveguard.identity.vault`); sessions only as hashes. The snapshot
history is partitioned by series, then by `interval_start` (raw by month, daily by year), so
retention drops whole raw months, and every write to it is an upsert keyed on (account, interval, granularity).
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

from advanced_alchemy.base import DefaultBase, IdentityBase, UUIDv7AuditBase
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, INET, JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

TZ = DateTime(timezone=True)


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(cls, name=name, values_callable=lambda members: [m.value for m in members], native_enum=True)


class AccountStatus(enum.StrEnum):
    ACTIVE = "active"
    REAUTH_REQUIRED = "reauth_required"
    REVOKED = "revoked"


class WarningLevel(enum.StrEnum):
    NORMAL = "normal"
    WARNING = "warning"
    CRITICAL = "critical"


class AlertKind(enum.StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"
    CRITICAL_REPEAT = "critical_repeat"
    RESOLVED = "resolved"


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class GoogleAccount(UUIDv7AuditBase):
    """A Google identity that signed in, with its grant and the state of its background refresh."""

    __tablename__ = "google_account"

    google_sub: Mapped[str] = mapped_column(String(255), unique=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    display_name: Mapped[str | None] = mapped_column(String(255))
    picture_url: Mapped[str | None] = mapped_column(Text)
    hosted_domain: Mapped[str | None] = mapped_column(String(255))
    granted_scopes: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list, server_default=text("'{}'"))
    access_token_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    refresh_token_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    token_key_id: Mapped[str | None] = mapped_column(String(32))
    access_token_expires_at: Mapped[dt.datetime | None] = mapped_column(TZ)
    status: Mapped[AccountStatus] = mapped_column(
        _enum(AccountStatus, "account_status"), default=AccountStatus.ACTIVE, server_default="active"
    )
    last_refresh_at: Mapped[dt.datetime | None] = mapped_column(TZ)
    last_refresh_error: Mapped[str | None] = mapped_column(Text)
    refresh_failure_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    last_login_at: Mapped[dt.datetime | None] = mapped_column(TZ)
    erasure_requested_at: Mapped[dt.datetime | None] = mapped_column(TZ)
    access_token_issued_at: Mapped[dt.datetime | None] = mapped_column(TZ)
    """With the expiry, the token's own lifetime: the refresh margin never exceeds a fraction of it."""
    refresh_uncertain_since: Mapped[dt.datetime | None] = mapped_column(TZ)
    """A refresh answer was lost (it may have rotated the grant); set until a refresh succeeds."""
    refresh_retry_at: Mapped[dt.datetime | None] = mapped_column(TZ)
    """No refresh attempt before this (backoff after an uncertain refresh)."""

    __table_args__ = (
        Index("ix_google_account_refresh_due", "status", "access_token_expires_at"),
        Index("ix_google_account_email_id", "email", "id"),
        Index(
            "ix_google_account_email_trgm",
            func.lower(text("email")),
            postgresql_using="gin",
            postgresql_ops={"lower_1": "gin_trgm_ops"},
        ),
        Index(
            "ix_google_account_erasure_requested",
            "erasure_requested_at",
            postgresql_where=text("erasure_requested_at IS NOT NULL"),
        ),
        CheckConstraint("refresh_failure_count >= 0", name="refresh_failure_count_non_negative"),
    )


class UserSession(UUIDv7AuditBase):
    """A persistent sign-in. Only the SHA-256 of the random session token is stored."""

    __tablename__ = "user_session"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("google_account.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    expires_at: Mapped[dt.datetime] = mapped_column(TZ)
    last_activity_at: Mapped[dt.datetime] = mapped_column(TZ)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(TZ)
    revoked_reason: Mapped[str | None] = mapped_column(String(64))
    ip_address: Mapped[str | None] = mapped_column(INET)
    user_agent: Mapped[str | None] = mapped_column(String(512))

    account: Mapped[GoogleAccount] = relationship(lazy="joined")

    __table_args__ = (
        Index("ix_user_session_expires_at", "expires_at"),
        Index("ix_user_session_revoked_at", "revoked_at", postgresql_where=text("revoked_at IS NOT NULL")),
    )


class StorageSnapshot(DefaultBase):
    """Drive storage of one account for one collection interval.

    Partitioned by series (granularity), then by interval_start: raw rows by month (retention drops
    whole months), daily rows by year (kept). Partitions are created ahead by
    `ensure_storage_snapshot_partition()`; there is no default partition (migration 0010).
    """

    __tablename__ = "storage_snapshot"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("google_account.id", ondelete="CASCADE"), primary_key=True)
    interval_start: Mapped[dt.datetime] = mapped_column(TZ, primary_key=True)
    interval_end: Mapped[dt.datetime] = mapped_column(TZ)
    collected_at: Mapped[dt.datetime] = mapped_column(TZ, server_default=func.now())
    usage_bytes: Mapped[int] = mapped_column(BigInteger)
    usage_in_drive_bytes: Mapped[int | None] = mapped_column(BigInteger)
    usage_in_trash_bytes: Mapped[int | None] = mapped_column(BigInteger)
    limit_bytes: Mapped[int | None] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(32), server_default="drive_about")
    granularity: Mapped[str] = mapped_column(String(8), primary_key=True, server_default="raw")
    """Part of the key: the hourly series (`raw`) and the daily one (Reports backfill, downsampling)
    both have a row at midnight, and neither hides the other."""

    __table_args__ = (
        CheckConstraint("usage_bytes >= 0", name="usage_non_negative"),
        CheckConstraint("interval_end > interval_start", name="interval_positive"),
        CheckConstraint("granularity IN ('raw', 'daily')", name="granularity_known"),
        Index("ix_storage_snapshot_interval_start", "interval_start", "account_id"),
        {"postgresql_partition_by": "LIST (granularity)"},
    )


class StorageLatest(DefaultBase):
    """Pre-aggregated read model: each account's newest snapshot, level and recent trend.

    Refreshed by the collection pipeline after each interval (upsert keyed on the account), so
    the overview never scans the partitioned history.
    """

    __tablename__ = "storage_latest"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("google_account.id", ondelete="CASCADE"), primary_key=True)
    interval_start: Mapped[dt.datetime] = mapped_column(TZ)
    interval_end: Mapped[dt.datetime] = mapped_column(TZ)
    collected_at: Mapped[dt.datetime] = mapped_column(TZ)
    usage_bytes: Mapped[int] = mapped_column(BigInteger)
    usage_in_drive_bytes: Mapped[int | None] = mapped_column(BigInteger)
    usage_in_trash_bytes: Mapped[int | None] = mapped_column(BigInteger)
    limit_bytes: Mapped[int | None] = mapped_column(BigInteger)
    usage_percent: Mapped[float | None] = mapped_column(Float)
    level: Mapped[WarningLevel] = mapped_column(_enum(WarningLevel, "warning_level"), server_default="normal")
    usage_bytes_24h_ago: Mapped[int | None] = mapped_column(BigInteger)
    usage_bytes_7d_ago: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[dt.datetime] = mapped_column(TZ, server_default=func.now(), onupdate=func.now())

    __table_args__ = (
        Index("ix_storage_latest_level", "level"),
        # The account list's sort orders, with the account id as the keyset tie-break (migration 0008).
        Index("ix_storage_latest_usage_percent", "usage_percent", "account_id"),
        Index("ix_storage_latest_usage_bytes", "usage_bytes", "account_id"),
        Index("ix_storage_latest_collected_at", "collected_at", "account_id"),
        Index("ix_storage_latest_growth_24h", text("(usage_bytes - usage_bytes_24h_ago)"), "account_id"),
        Index("ix_storage_latest_growth_7d", text("(usage_bytes - usage_bytes_7d_ago)"), "account_id"),
        # The overview: one level in its order, and the newest interval (migration 0009).
        Index("ix_storage_latest_overview", text("(coalesce(usage_percent, -1))"), "account_id"),
        Index("ix_storage_latest_level_overview", "level", text("(coalesce(usage_percent, -1))"), "account_id"),
        Index("ix_storage_latest_interval_end", "interval_end"),
    )


class StorageLatestTotals(DefaultBase):
    """The overview header pre-aggregated: one row per slot, the totals are their sum.

    Maintained only by statement triggers on `storage_latest` (migration 0009), each adding its
    statement's delta to the writing backend's slot, so concurrent shards do not queue on one row."""

    __tablename__ = "storage_latest_totals"

    slot: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    accounts: Mapped[int] = mapped_column(BigInteger)
    normal: Mapped[int] = mapped_column(BigInteger)
    warning: Mapped[int] = mapped_column(BigInteger)
    critical: Mapped[int] = mapped_column(BigInteger)
    unlimited: Mapped[int] = mapped_column(BigInteger)
    usage_bytes: Mapped[int] = mapped_column(Numeric)


class AccountStatusTotals(DefaultBase):
    """Accounts per grant status, pre-aggregated in slots by triggers on `google_account` (migration 0009)."""

    __tablename__ = "account_status_totals"

    slot: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    status: Mapped[AccountStatus] = mapped_column(_enum(AccountStatus, "account_status"), primary_key=True)
    accounts: Mapped[int] = mapped_column(BigInteger)


class MonitoringSetting(DefaultBase):
    """Per-account monitoring preferences; NULL thresholds fall back to the global config.

    The person's own apprise targets are a JSON list sealed by the vault (bound to the account)."""

    __tablename__ = "monitoring_setting"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("google_account.id", ondelete="CASCADE"), primary_key=True)
    alerts_enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    warning_threshold_percent: Mapped[float | None] = mapped_column(Float)
    critical_threshold_percent: Mapped[float | None] = mapped_column(Float)
    notify_targets_ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    updated_at: Mapped[dt.datetime] = mapped_column(TZ, server_default=func.now(), onupdate=func.now())

    __table_args__ = (
        CheckConstraint(
            "warning_threshold_percent IS NULL OR critical_threshold_percent IS NULL "
            "OR warning_threshold_percent < critical_threshold_percent",
            name="thresholds_ordered",
        ),
        CheckConstraint(
            "(warning_threshold_percent IS NULL"
            " OR (warning_threshold_percent > 0 AND warning_threshold_percent <= 100))"
            " AND (critical_threshold_percent IS NULL"
            " OR (critical_threshold_percent > 0 AND critical_threshold_percent <= 100))",
            name="thresholds_in_range",
        ),
    )


class AlertState(DefaultBase):
    """Where each account stands in the normal -> warning -> critical state machine."""

    __tablename__ = "alert_state"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("google_account.id", ondelete="CASCADE"), primary_key=True)
    level: Mapped[WarningLevel] = mapped_column(_enum(WarningLevel, "warning_level"), server_default="normal")
    usage_percent: Mapped[float | None] = mapped_column(Float)
    evaluated_interval_start: Mapped[dt.datetime | None] = mapped_column(TZ)
    level_since: Mapped[dt.datetime | None] = mapped_column(TZ)
    last_notified_at: Mapped[dt.datetime | None] = mapped_column(TZ)
    updated_at: Mapped[dt.datetime] = mapped_column(TZ, server_default=func.now(), onupdate=func.now())


class Alert(UUIDv7AuditBase):
    """One transition worth telling someone about; unique per account, interval and kind."""

    __tablename__ = "alert"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("google_account.id", ondelete="CASCADE"), index=True)
    kind: Mapped[AlertKind] = mapped_column(_enum(AlertKind, "alert_kind"))
    interval_start: Mapped[dt.datetime] = mapped_column(TZ)
    usage_percent: Mapped[float | None] = mapped_column(Float)
    usage_bytes: Mapped[int] = mapped_column(BigInteger)
    limit_bytes: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        UniqueConstraint("account_id", "interval_start", "kind", name="uq_alert_account_interval_kind"),
        Index("ix_alert_account_created", "account_id", "created_at", "id"),
    )


class NotificationOutbox(UUIDv7AuditBase):
    """A message to deliver, written in the same transaction as the alert (or grant episode) that caused it.

    `target_ciphertext` is the apprise URL sealed by the vault (bound to the row id); `target` holds
    only its masked form (scheme and host) for people reading the delivery state."""

    __tablename__ = "notification_outbox"

    alert_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("alert.id", ondelete="CASCADE"), index=True)
    grant_episode_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("grant_episode.id", ondelete="CASCADE"), index=True
    )
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    target: Mapped[str] = mapped_column(Text)
    target_ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    title: Mapped[str] = mapped_column(String(255))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[OutboxStatus] = mapped_column(
        _enum(OutboxStatus, "outbox_status"), default=OutboxStatus.PENDING, server_default="pending"
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    next_attempt_at: Mapped[dt.datetime] = mapped_column(TZ, server_default=func.now())
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[dt.datetime | None] = mapped_column(TZ)

    __table_args__ = (
        Index("ix_notification_outbox_due", "status", "next_attempt_at"),
        Index("ix_notification_outbox_sent_at", "sent_at", postgresql_where=text("sent_at IS NOT NULL")),
    )


class GrantEpisode(UUIDv7AuditBase):
    """One stretch of time an account's Google grant needed re-consent (`reauth_required`).

    Opened once when the status is first seen (at most one open episode per account), closed when
    the account is active again; each edge writes its notices to the outbox in the same
    transaction, keyed on the episode, so a rerun never notifies twice."""

    __tablename__ = "grant_episode"

    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("google_account.id", ondelete="CASCADE"))
    reason: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[dt.datetime] = mapped_column(TZ)
    recovered_at: Mapped[dt.datetime | None] = mapped_column(TZ)

    __table_args__ = (
        Index("ix_grant_episode_account_started", "account_id", "started_at"),
        Index(
            "uq_grant_episode_open",
            "account_id",
            unique=True,
            postgresql_where=text("recovered_at IS NULL"),
        ),
    )


class AuditLog(IdentityBase):
    """Who did what, when and from where. Never holds a secret."""

    __tablename__ = "audit_log"

    occurred_at: Mapped[dt.datetime] = mapped_column(TZ, server_default=func.now(), index=True)
    actor: Mapped[str] = mapped_column(String(320))
    actor_account_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("google_account.id", ondelete="SET NULL"), index=True
    )
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str | None] = mapped_column(String(320))
    ip_address: Mapped[str | None] = mapped_column(INET)
    user_agent: Mapped[str | None] = mapped_column(String(512))
    details: Mapped[dict] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))


class MonitoringConfig(DefaultBase):
    """Global monitoring settings changed at run time through the API and read by the DAGs."""

    __tablename__ = "monitoring_config"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict | list | str | int | float | bool] = mapped_column(JSONB)
    updated_at: Mapped[dt.datetime] = mapped_column(TZ, server_default=func.now(), onupdate=func.now())
    updated_by: Mapped[str | None] = mapped_column(String(320))


class PipelineRun(IdentityBase):
    """Counts a pipeline task reported for one data interval, kept for the API and for ops."""

    __tablename__ = "pipeline_run"

    dag_id: Mapped[str] = mapped_column(String(250))
    task_id: Mapped[str] = mapped_column(String(250))
    run_id: Mapped[str] = mapped_column(String(250))
    interval_start: Mapped[dt.datetime | None] = mapped_column(TZ)
    interval_end: Mapped[dt.datetime | None] = mapped_column(TZ)
    counts: Mapped[dict] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    recorded_at: Mapped[dt.datetime] = mapped_column(TZ, server_default=func.now(), onupdate=func.now())

    __table_args__ = (
        UniqueConstraint("dag_id", "run_id", "task_id", name="uq_pipeline_run_task"),
        Index("ix_pipeline_run_dag_interval", "dag_id", "interval_start"),
    )


class OAuthLoginState(UUIDv7AuditBase):
    """A started Google sign-in, consumed once by the callback.

    Only hashes are kept: of the `state` sent through Google and of the random secret in the
    browser's short-lived cookie that binds the sign-in to that browser. The PKCE verifier and
    nonce are derived from the cookie secret, so no sign-in secret is stored here.
    """

    __tablename__ = "oauth_login_state"

    state_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    browser_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    next_path: Mapped[str | None] = mapped_column(String(512))
    prompt: Mapped[str | None] = mapped_column(String(32))
    expires_at: Mapped[dt.datetime] = mapped_column(TZ)
    consumed_at: Mapped[dt.datetime | None] = mapped_column(TZ)

    __table_args__ = (Index("ix_oauth_login_state_expires_at", "expires_at"),)


class GoogleRateBudget(DefaultBase):
    """One Google request budget shared by every task, process and worker (`driveguard.google.budget`).

    The bookings of the last window (epoch seconds, parts) and the shared rate multiplier."""

    __tablename__ = "google_rate_budget"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    multiplier: Mapped[float] = mapped_column(Float, server_default=text("1.0"))
    last_throttle_at: Mapped[float | None] = mapped_column(Float)
    sent_at: Mapped[list[float]] = mapped_column(ARRAY(Float), server_default=text("'{}'"))
    sent_parts: Mapped[list[int]] = mapped_column(ARRAY(Integer), server_default=text("'{}'"))
    updated_at: Mapped[dt.datetime] = mapped_column(TZ, server_default=func.now())

    __table_args__ = (CheckConstraint("multiplier > 0 AND multiplier <= 1", name="ck_google_rate_budget_multiplier"),)


class BackfillDay(DefaultBase):
    """What the Reports backfill knows about one day: `partial` while Google answers
    PARTIAL_DATA_AVAILABLE (the users present are stored, the day is fetched again), `complete`, or
    `gave_up` after BACKFILL_PARTIAL_MAX_ATTEMPTS tries or BACKFILL_MAX_WAIT_DAYS."""

    __tablename__ = "backfill_day"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    reported_users: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    matched_accounts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    warning: Mapped[str | None] = mapped_column(Text)
    first_attempt_at: Mapped[dt.datetime] = mapped_column(TZ)
    last_attempt_at: Mapped[dt.datetime] = mapped_column(TZ)
    completed_at: Mapped[dt.datetime | None] = mapped_column(TZ)

    __table_args__ = (
        CheckConstraint("status IN ('partial', 'complete', 'gave_up')", name="status_known"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
        Index("ix_backfill_day_status", "status"),
    )


class RequestThrottle(DefaultBase):
    """One throttle bucket (`driveguard.identity.throttle`): attempts in the current window and
    when the next attempt is allowed. Counted by one upsert per attempt, before the attempt's work."""

    __tablename__ = "request_throttle"

    bucket: Mapped[str] = mapped_column(String(400), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer)
    window_started_at: Mapped[dt.datetime] = mapped_column(TZ)
    next_allowed_at: Mapped[dt.datetime] = mapped_column(TZ)

    __table_args__ = (Index("ix_request_throttle_window_started_at", "window_started_at"),)
