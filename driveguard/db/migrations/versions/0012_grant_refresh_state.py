"""What a grant's refresh needs to survive faults:

- `access_token_issued_at`: with `access_token_expires_at` it gives the token's own lifetime, so
  the refresh margin can be capped at a fraction of it (60 s tokens are not refreshed on every call);
- `refresh_uncertain_since`: the first refresh of the current run whose answer was lost (timeout,
  reset, 5xx after sending); an `invalid_grant` while it is set is uncertain, not a dead grant,
  until TOKEN_REFRESH_UNCERTAIN_SECONDS have passed;
- `refresh_retry_at`: no refresh attempt before then (backoff after an uncertain refresh).

Revision ID: 0012_grant_refresh_state
Revises: 0007_sealed_targets
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_grant_refresh_state"
down_revision = "0011_request_throttle"
branch_labels = None
depends_on = None

COLUMNS = ("access_token_issued_at", "refresh_uncertain_since", "refresh_retry_at")


def upgrade() -> None:
    for name in COLUMNS:
        op.add_column("google_account", sa.Column(name, sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    for name in reversed(COLUMNS):
        op.drop_column("google_account", name)
