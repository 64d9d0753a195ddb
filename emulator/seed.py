"""Deterministic demo data: a few accounts at telling storage levels with eight weeks of history.

The levels sit on either side of the product's alert thresholds (80 % warning, 90 %
critical) and cover the shapes the product must handle: consumer accounts, an unlimited
Workspace account and a Workspace admin who can read the domain's Reports usage. The Workspace
domain has a warning (frank) and a critical (grace) account, so the Reports history a demo
backfills shows both levels. Usage grows day by day (with a little noise),
so a trend and a forecast exist; Reports only ever covers the domain's users, as at Google.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from .models import GIB

CONSUMER_LIMIT = 15 * GIB
WORKSPACE_LIMIT = 2048 * GIB
DEMO_DOMAIN = "northwind.example"
SEEDS = ("demo", "none")

# email, name, domain, is_admin, limit, fraction of limit used (or bytes if unlimited), drive share
_DEMO: tuple[tuple[str, str, str | None, bool, int | None, float, float], ...] = (
    ("alice@gmail.com", "Alice Nguyen", None, False, CONSUMER_LIMIT, 0.40, 0.72),
    ("bob@gmail.com", "Bob Okafor", None, False, CONSUMER_LIMIT, 0.85, 0.64),
    ("carol@gmail.com", "Carol Schmidt", None, False, CONSUMER_LIMIT, 0.95, 0.81),
    ("dave@northwind.example", "Dave Romero", DEMO_DOMAIN, False, None, 2_470_000_000_000, 0.93),
    ("erin@northwind.example", "Erin Walsh", DEMO_DOMAIN, True, WORKSPACE_LIMIT, 0.31, 0.77),
    ("frank@northwind.example", "Frank Osei", DEMO_DOMAIN, False, WORKSPACE_LIMIT, 0.88, 0.69),
    ("grace@northwind.example", "Grace Lindqvist", DEMO_DOMAIN, False, WORKSPACE_LIMIT, 0.94, 0.86),
)
HISTORY_DAYS = 56
"""Eight weeks: enough for a demo's six weeks of Reports backfill behind Google's 2-3 day lag."""


def demo_accounts(today: dt.date, days: int = HISTORY_DAYS) -> list[dict[str, Any]]:
    """Account payloads for the admin API's create path, same output for the same `today`."""
    out: list[dict[str, Any]] = []
    for email, name, domain, is_admin, limit, level, drive_share in _DEMO:
        usage = int(level) if limit is None else int(limit * level)
        rng = random.Random(email)  # noqa: S311 - deterministic demo data, not security
        daily_growth = rng.uniform(0.002, 0.006)
        history: dict[str, dict[str, int]] = {}
        for back in range(days, 0, -1):
            wiggle = rng.uniform(-0.0008, 0.0008)
            day_usage = max(0, int(usage * (1 - daily_growth * back + wiggle)))
            day_drive = int(day_usage * drive_share)
            history[(today - dt.timedelta(days=back)).isoformat()] = {
                "usage": day_usage,
                "usage_in_drive": day_drive,
                "usage_in_gmail": day_usage - day_drive,
            }
        given, family = name.split(" ", 1)
        drive = int(usage * drive_share)
        out.append(
            {
                "email": email,
                "name": name,
                "given_name": given,
                "family_name": family,
                "domain": domain,
                "is_admin": is_admin,
                "limit": limit,
                "usage": usage,
                "usage_in_drive": drive,
                "usage_in_drive_trash": int(drive * 0.012),
                "usage_in_gmail": usage - drive,
                "created": (today - dt.timedelta(days=365)).isoformat(),
                "history": history,
            }
        )
    return out
