"""Apprise targets sealed by the vault; grant episodes (reauth_required notices); per-account thresholds in range.

- `monitoring_setting.notify_targets` (a plain JSON list) becomes `notify_targets_ciphertext`
  (the list sealed, bound to the account);
- `monitoring_config` key `apprise_urls` (a plain JSON list) becomes `{"sealed": <base64>}`;
- `notification_outbox.target_ciphertext` holds the sealed URL (bound to the row id) and `target`
  keeps only its masked form; a row may belong to a grant episode instead of an alert;
- `grant_episode`: when an account needed re-consent, at most one open episode per account.

Existing plain rows are encrypted here, in the migration's own transaction: the schema change and
the encryption commit together or not at all, so no reader ever sees a half-sealed table. The keys
come from the settings (DRIVEGUARD_ENCRYPTION_KEYS), exactly as the API and the DAGs get them:
`driveguard db-upgrade` and `make run` run migrations with the settings loaded, and callers may hand
a vault in `config.attributes["vault"]` (`driveguard.db.migrate.upgrade(engine, vault=...)`). The
keys are read only when there is a plain row to seal, so a fresh database needs none.

Revision ID: 0007_sealed_targets
Revises: 0008_storage_read_indexes
Create Date: 2026-11-28
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007_sealed_targets"
down_revision = "0008_storage_read_indexes"
branch_labels = None
depends_on = None

NIL_OWNER = uuid.UUID(int=0)


class _LazyVault:
    """The vault, built on first use from the migration's config or else from the settings."""

    def __init__(self) -> None:
        self._vault: Any = None

    def __call__(self) -> Any:
        if self._vault is None:
            vault = op.get_context().config.attributes.get("vault") if op.get_context().config else None
            if vault is None:
                from driveguard.config import get_settings
                from driveguard.identity.vault import Vault

                vault = Vault(get_settings().security.encryption_keys)
            self._vault = vault
        return self._vault


def _mask(url: str) -> str:
    from driveguard.storage.targets import mask_target

    return mask_target(url)


def upgrade() -> None:
    vault = _LazyVault()
    conn = op.get_bind()

    # -- grant episodes ---------------------------------------------------------------------
    op.create_table(
        "grant_episode",
        sa.Column("id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("account_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recovered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["google_account.id"],
            name=op.f("fk_grant_episode_account_id_google_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grant_episode")),
    )
    op.create_index("ix_grant_episode_account_started", "grant_episode", ["account_id", "started_at"])
    op.create_index(
        "uq_grant_episode_open",
        "grant_episode",
        ["account_id"],
        unique=True,
        postgresql_where=sa.text("recovered_at IS NULL"),
    )

    # -- a person's own targets ---------------------------------------------------------------
    op.add_column("monitoring_setting", sa.Column("notify_targets_ciphertext", sa.LargeBinary(), nullable=True))
    rows = conn.execute(
        sa.text(
            "SELECT account_id, notify_targets FROM monitoring_setting WHERE jsonb_array_length(notify_targets) > 0"
        )
    ).all()
    for account_id, targets in rows:
        blob = vault().encrypt(json.dumps(list(targets)), account_id=account_id, field="notify_targets")
        conn.execute(
            sa.text("UPDATE monitoring_setting SET notify_targets_ciphertext = :blob WHERE account_id = :id"),
            {"blob": blob, "id": account_id},
        )
    op.drop_column("monitoring_setting", "notify_targets")
    conn.execute(
        sa.text(
            "UPDATE monitoring_setting SET warning_threshold_percent = NULL"
            " WHERE warning_threshold_percent <= 0 OR warning_threshold_percent > 100"
        )
    )
    conn.execute(
        sa.text(
            "UPDATE monitoring_setting SET critical_threshold_percent = NULL"
            " WHERE critical_threshold_percent <= 0 OR critical_threshold_percent > 100"
        )
    )
    op.create_check_constraint(
        op.f("ck_monitoring_setting_thresholds_in_range"),
        "monitoring_setting",
        "(warning_threshold_percent IS NULL"
        " OR (warning_threshold_percent > 0 AND warning_threshold_percent <= 100))"
        " AND (critical_threshold_percent IS NULL"
        " OR (critical_threshold_percent > 0 AND critical_threshold_percent <= 100))",
    )

    # -- the run-time targets ---------------------------------------------------------------------
    value = conn.execute(sa.text("SELECT value FROM monitoring_config WHERE key = 'apprise_urls'")).scalar()
    if isinstance(value, list):
        blob = vault().encrypt(json.dumps(value), account_id=NIL_OWNER, field="monitoring_apprise_urls")
        sealed = json.dumps({"sealed": base64.b64encode(blob).decode("ascii")})
        conn.execute(
            sa.text("UPDATE monitoring_config SET value = CAST(:v AS jsonb) WHERE key = 'apprise_urls'"), {"v": sealed}
        )

    # -- the outbox -------------------------------------------------------------------------------
    op.add_column("notification_outbox", sa.Column("target_ciphertext", sa.LargeBinary(), nullable=True))
    op.add_column("notification_outbox", sa.Column("grant_episode_id", postgresql.UUID(as_uuid=True), nullable=True))
    op.create_foreign_key(
        op.f("fk_notification_outbox_grant_episode_id_grant_episode"),
        "notification_outbox",
        "grant_episode",
        ["grant_episode_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_index(op.f("ix_notification_outbox_grant_episode_id"), "notification_outbox", ["grant_episode_id"])
    result = conn.execute(sa.text("SELECT id, target FROM notification_outbox"))
    while batch := result.fetchmany(500):
        conn.execute(
            sa.text("UPDATE notification_outbox SET target_ciphertext = :blob, target = :masked WHERE id = :id"),
            [
                {"id": row_id, "blob": vault().encrypt(target, account_id=row_id, field="outbox_target"),
                 "masked": _mask(target)}
                for row_id, target in batch
            ],
        )  # fmt: skip
    op.alter_column("notification_outbox", "target_ciphertext", nullable=False)


def downgrade() -> None:
    vault = _LazyVault()
    conn = op.get_bind()

    conn.execute(sa.text("DELETE FROM notification_outbox WHERE grant_episode_id IS NOT NULL"))
    rows = conn.execute(sa.text("SELECT id, target_ciphertext FROM notification_outbox")).all()
    for row_id, blob in rows:
        plain = vault().decrypt(bytes(blob), account_id=row_id, field="outbox_target")
        conn.execute(sa.text("UPDATE notification_outbox SET target = :t WHERE id = :id"), {"t": plain, "id": row_id})
    op.drop_index(op.f("ix_notification_outbox_grant_episode_id"), table_name="notification_outbox")
    op.drop_constraint(
        op.f("fk_notification_outbox_grant_episode_id_grant_episode"), "notification_outbox", type_="foreignkey"
    )
    op.drop_column("notification_outbox", "grant_episode_id")
    op.drop_column("notification_outbox", "target_ciphertext")

    value = conn.execute(sa.text("SELECT value FROM monitoring_config WHERE key = 'apprise_urls'")).scalar()
    if isinstance(value, dict) and isinstance(value.get("sealed"), str):
        blob = base64.b64decode(value["sealed"])
        plain = vault().decrypt(blob, account_id=NIL_OWNER, field="monitoring_apprise_urls")
        conn.execute(
            sa.text("UPDATE monitoring_config SET value = CAST(:v AS jsonb) WHERE key = 'apprise_urls'"), {"v": plain}
        )

    op.drop_constraint(op.f("ck_monitoring_setting_thresholds_in_range"), "monitoring_setting", type_="check")
    op.add_column(
        "monitoring_setting",
        sa.Column(
            "notify_targets",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )
    rows = conn.execute(
        sa.text("SELECT account_id, notify_targets_ciphertext FROM monitoring_setting"
                " WHERE notify_targets_ciphertext IS NOT NULL")
    ).all()  # fmt: skip
    for account_id, blob in rows:
        plain = vault().decrypt(bytes(blob), account_id=account_id, field="notify_targets")
        conn.execute(
            sa.text("UPDATE monitoring_setting SET notify_targets = CAST(:t AS jsonb) WHERE account_id = :id"),
            {"t": plain, "id": account_id},
        )
    op.drop_column("monitoring_setting", "notify_targets_ciphertext")

    op.drop_index("uq_grant_episode_open", table_name="grant_episode")
    op.drop_index("ix_grant_episode_account_started", table_name="grant_episode")
    op.drop_table("grant_episode")
