"""One definition of "due for a token refresh": the SQL function `refresh_due_accounts(horizon)`.

An account is due when it is active, holds a refresh token, has no erasure request, and its
access token is missing or expires before `horizon`. The refresh planner, the refresh shards and
the token service all select from this function, so the rule cannot drift between them. The
function is plain SQL and STABLE, so PostgreSQL inlines it into each query (indexes still apply).

Revision ID: 0004_refresh_due_accounts
Revises: 0003_storage_pipelines
Create Date: 2026-11-28
"""

from __future__ import annotations

from alembic import op

revision = "0004_refresh_due_accounts"
down_revision = "0003_storage_pipelines"
branch_labels = None
depends_on = None

REFRESH_DUE_FUNCTION = """
CREATE OR REPLACE FUNCTION refresh_due_accounts(horizon timestamptz)
RETURNS TABLE (id uuid, access_token_expires_at timestamptz)
LANGUAGE sql STABLE AS $fn$
    SELECT a.id, a.access_token_expires_at
    FROM google_account a
    WHERE a.status = 'active'
      AND a.refresh_token_ciphertext IS NOT NULL
      AND a.erasure_requested_at IS NULL
      AND (a.access_token_expires_at IS NULL OR a.access_token_expires_at < horizon)
$fn$
"""


def upgrade() -> None:
    op.execute(REFRESH_DUE_FUNCTION)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS refresh_due_accounts(timestamptz)")
