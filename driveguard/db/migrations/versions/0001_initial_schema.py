"""Initial schema: accounts, sessions, partitioned snapshots, monitoring, alerts, outbox, audit.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Monthly partitions (UTC) are created on demand before writes; rows that landed in the
# default partition for that month are moved so the new range can be attached.
ENSURE_PARTITION_FUNCTION = """
CREATE OR REPLACE FUNCTION ensure_storage_snapshot_partition(p_at timestamptz) RETURNS text
LANGUAGE plpgsql AS $fn$
DECLARE
    month_start timestamptz := date_trunc('month', p_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    month_end timestamptz := (date_trunc('month', p_at AT TIME ZONE 'UTC') + interval '1 month') AT TIME ZONE 'UTC';
    part text := 'storage_snapshot_p' || to_char(p_at AT TIME ZONE 'UTC', 'YYYYMM');
BEGIN
    IF to_regclass(part) IS NOT NULL THEN
        RETURN part;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('storage_snapshot_partitions'));
    IF to_regclass(part) IS NOT NULL THEN
        RETURN part;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE storage_snapshot INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
    EXECUTE format(
        'WITH moved AS (DELETE FROM storage_snapshot_default WHERE interval_start >= $1 AND interval_start < $2 '
        'RETURNING *) INSERT INTO %I SELECT * FROM moved', part
    ) USING month_start, month_end;
    EXECUTE format(
        'ALTER TABLE storage_snapshot ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
        part, month_start, month_end
    );
    RETURN part;
END
$fn$;
"""


def upgrade() -> None:
    op.create_table(
        "google_account",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("google_sub", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("email_verified", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=True),
        sa.Column("picture_url", sa.Text(), nullable=True),
        sa.Column("hosted_domain", sa.String(length=255), nullable=True),
        sa.Column("granted_scopes", postgresql.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
        sa.Column("access_token_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("refresh_token_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("token_key_id", sa.String(length=32), nullable=True),
        sa.Column("access_token_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "status",
            sa.Enum("active", "reauth_required", "revoked", name="account_status"),
            server_default="active",
            nullable=False,
        ),
        sa.Column("last_refresh_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_refresh_error", sa.Text(), nullable=True),
        sa.Column("refresh_failure_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("erasure_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "refresh_failure_count >= 0", name=op.f("ck_google_account_refresh_failure_count_non_negative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_google_account")),
        sa.UniqueConstraint("google_sub", name=op.f("uq_google_account_google_sub")),
    )
    op.create_index(op.f("ix_google_account_email"), "google_account", ["email"], unique=False)
    op.create_index(
        "ix_google_account_refresh_due", "google_account", ["status", "access_token_expires_at"], unique=False
    )
    op.create_table(
        "monitoring_config",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_monitoring_config")),
    )
    op.create_table(
        "pipeline_run",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False, start=1, increment=1), nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("task_id", sa.String(length=250), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("interval_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("interval_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "counts",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_run")),
        sa.UniqueConstraint("dag_id", "run_id", "task_id", name="uq_pipeline_run_task"),
    )
    op.create_index("ix_pipeline_run_dag_interval", "pipeline_run", ["dag_id", "interval_start"], unique=False)
    op.create_table(
        "alert",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("account_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("warning", "critical", "critical_repeat", "resolved", name="alert_kind"),
            nullable=False,
        ),
        sa.Column("interval_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("usage_percent", sa.Float(), nullable=True),
        sa.Column("usage_bytes", sa.BigInteger(), nullable=False),
        sa.Column("limit_bytes", sa.BigInteger(), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["google_account.id"],
            name=op.f("fk_alert_account_id_google_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert")),
        sa.UniqueConstraint("account_id", "interval_start", "kind", name="uq_alert_account_interval_kind"),
    )
    op.create_index(op.f("ix_alert_account_id"), "alert", ["account_id"], unique=False)
    op.create_table(
        "alert_state",
        sa.Column("account_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column(
            "level",
            sa.Enum("normal", "warning", "critical", name="warning_level"),
            server_default="normal",
            nullable=False,
        ),
        sa.Column("usage_percent", sa.Float(), nullable=True),
        sa.Column("evaluated_interval_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("level_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["google_account.id"],
            name=op.f("fk_alert_state_account_id_google_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_alert_state")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False, start=1, increment=1), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("actor", sa.String(length=320), nullable=False),
        sa.Column("actor_account_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=320), nullable=True),
        sa.Column("ip_address", postgresql.INET(), nullable=True),
        sa.Column("user_agent", sa.String(length=512), nullable=True),
        sa.Column(
            "details",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["actor_account_id"],
            ["google_account.id"],
            name=op.f("fk_audit_log_actor_account_id_google_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_action"), "audit_log", ["action"], unique=False)
    op.create_index(op.f("ix_audit_log_actor_account_id"), "audit_log", ["actor_account_id"], unique=False)
    op.create_index(op.f("ix_audit_log_occurred_at"), "audit_log", ["occurred_at"], unique=False)
    op.create_table(
        "monitoring_setting",
        sa.Column("account_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("alerts_enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("warning_threshold_percent", sa.Float(), nullable=True),
        sa.Column("critical_threshold_percent", sa.Float(), nullable=True),
        sa.Column(
            "notify_targets",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "warning_threshold_percent IS NULL OR critical_threshold_percent IS NULL OR warning_threshold_percent < critical_threshold_percent",
            name=op.f("ck_monitoring_setting_thresholds_ordered"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["google_account.id"],
            name=op.f("fk_monitoring_setting_account_id_google_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_monitoring_setting")),
    )
    op.create_table(
        "storage_snapshot",
        sa.Column("account_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("interval_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("interval_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("collected_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("usage_bytes", sa.BigInteger(), nullable=False),
        sa.Column("usage_in_drive_bytes", sa.BigInteger(), nullable=True),
        sa.Column("usage_in_trash_bytes", sa.BigInteger(), nullable=True),
        sa.Column("limit_bytes", sa.BigInteger(), nullable=True),
        sa.Column("source", sa.String(length=32), server_default="drive_about", nullable=False),
        sa.Column("granularity", sa.String(length=8), server_default="raw", nullable=False),
        sa.CheckConstraint("granularity IN ('raw', 'daily')", name=op.f("ck_storage_snapshot_granularity_known")),
        sa.CheckConstraint("interval_end > interval_start", name=op.f("ck_storage_snapshot_interval_positive")),
        sa.CheckConstraint("usage_bytes >= 0", name=op.f("ck_storage_snapshot_usage_non_negative")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["google_account.id"],
            name=op.f("fk_storage_snapshot_account_id_google_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "interval_start", name=op.f("pk_storage_snapshot")),
        postgresql_partition_by="RANGE (interval_start)",
    )
    op.create_index("ix_storage_snapshot_interval_start", "storage_snapshot", ["interval_start"], unique=False)
    op.execute("CREATE TABLE storage_snapshot_default PARTITION OF storage_snapshot DEFAULT")
    op.execute(ENSURE_PARTITION_FUNCTION)
    op.create_table(
        "user_session",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("account_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_reason", sa.String(length=64), nullable=True),
        sa.Column("ip_address", postgresql.INET(), nullable=True),
        sa.Column("user_agent", sa.String(length=512), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["google_account.id"],
            name=op.f("fk_user_session_account_id_google_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_session")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_user_session_token_hash")),
    )
    op.create_index(op.f("ix_user_session_account_id"), "user_session", ["account_id"], unique=False)
    op.create_index("ix_user_session_expires_at", "user_session", ["expires_at"], unique=False)
    op.create_table(
        "notification_outbox",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("alert_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("pending", "sending", "sent", "failed", name="outbox_status"),
            server_default="pending",
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alert.id"], name=op.f("fk_notification_outbox_alert_id_alert"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_outbox")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_notification_outbox_idempotency_key")),
    )
    op.create_index(op.f("ix_notification_outbox_alert_id"), "notification_outbox", ["alert_id"], unique=False)
    op.create_index("ix_notification_outbox_due", "notification_outbox", ["status", "next_attempt_at"], unique=False)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS ensure_storage_snapshot_partition(timestamptz)")
    op.drop_index("ix_notification_outbox_due", table_name="notification_outbox")
    op.drop_index(op.f("ix_notification_outbox_alert_id"), table_name="notification_outbox")
    op.drop_table("notification_outbox")
    op.drop_index("ix_user_session_expires_at", table_name="user_session")
    op.drop_index(op.f("ix_user_session_account_id"), table_name="user_session")
    op.drop_table("user_session")
    op.drop_index("ix_storage_snapshot_interval_start", table_name="storage_snapshot")
    op.drop_table("storage_snapshot")
    op.drop_table("monitoring_setting")
    op.drop_index(op.f("ix_audit_log_occurred_at"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_actor_account_id"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_action"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_table("alert_state")
    op.drop_index(op.f("ix_alert_account_id"), table_name="alert")
    op.drop_table("alert")
    op.drop_index("ix_pipeline_run_dag_interval", table_name="pipeline_run")
    op.drop_table("pipeline_run")
    op.drop_table("monitoring_config")
    op.drop_index("ix_google_account_refresh_due", table_name="google_account")
    op.drop_index(op.f("ix_google_account_email"), table_name="google_account")
    op.drop_table("google_account")
    for enum_name in ("outbox_status", "alert_kind", "warning_level", "account_status"):
        op.execute(f"DROP TYPE IF EXISTS {enum_name}")
