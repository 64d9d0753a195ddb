"""A person's own alert preferences: thresholds, storage alerts on or off, and a personal apprise target.

Stored in `monitoring_setting` (NULL thresholds fall back to the global ones); the personal target
is sealed by the vault and only ever shown masked. People change their own; admins any account's.
The alert evaluation (`alerts.py`) reads the same row, so a change applies from the next interval.

Two entry points for the two doors: `update(account_id, changes, actor)` takes JSON-like values (the
API), `update_from_form(account_id, form, actor)` takes an HTML form's strings (the pages).
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from driveguard import audit
from driveguard.audit import RequestContext
from driveguard.clock import Clock, utcnow
from driveguard.config import Settings
from driveguard.errors import Forbidden, InvalidInput, NotFound
from driveguard.identity.caller import Caller
from driveguard.identity.vault import Vault
from driveguard.storage.monitoring import check_apprise_url, effective_config
from driveguard.storage.sql import load_sql
from driveguard.storage.targets import apprise_refusal, mask_target, open_personal, seal_personal

KEYS = ("warning_threshold_percent", "critical_threshold_percent", "alerts_enabled", "personal_target")
FORM_REMOVE_TARGET = "remove_personal_target"
"""The form's checkbox that removes the personal target (a masked value cannot be posted back)."""


@dataclass(frozen=True)
class Preferences:
    """One account's preferences as anyone may see them (the target masked)."""

    account_id: uuid.UUID
    email: str
    alerts_enabled: bool
    warning_threshold_percent: float | None
    """The account's own value; None: the global one applies."""
    critical_threshold_percent: float | None
    effective_warning_threshold_percent: float
    """What the alert evaluation uses now (own value, else global)."""
    effective_critical_threshold_percent: float
    personal_target: str | None
    """Masked (scheme, a hint of the user, host); never the URL itself."""
    updated_at: dt.datetime | None


class PreferencesInvalid(InvalidInput):
    """A change that breaks the rules; `errors` names each bad field and why."""

    default_code = "invalid-preferences"
    default_title = "Invalid preferences"

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


def _percent(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number (or null for the global default)")
    if isinstance(value, int) and not 0 < value <= 100:
        raise ValueError("must be greater than 0 and at most 100")
    if not math.isfinite(value) or not 0 < value <= 100:
        raise ValueError("must be greater than 0 and at most 100")
    return float(value)


def _target(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueError("must be an apprise URL (or null to remove it)")
    problem = check_apprise_url(value) or apprise_refusal(value)
    if problem:
        raise ValueError(problem)
    return value.strip()


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


_PARSERS = {
    "warning_threshold_percent": _percent,
    "critical_threshold_percent": _percent,
    "alerts_enabled": _flag,
    "personal_target": _target,
}


def form_changes(form: Mapping[str, str]) -> dict[str, Any]:
    """An HTML form's fields as `update` changes.

    Thresholds: a number, or empty for the global default. `alerts_enabled`: a checkbox (present
    means on). `personal_target`: a new URL, or empty to keep the current one; the
    `remove_personal_target` checkbox removes it. Unparseable numbers are reported per field.
    """
    changes: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key in ("warning_threshold_percent", "critical_threshold_percent"):
        if key not in form:
            continue
        text = str(form[key]).strip().replace(",", ".")
        if not text:
            changes[key] = None
            continue
        try:
            changes[key] = float(text)
        except ValueError:
            errors[key] = "must be a number (or empty for the global default)"
    changes["alerts_enabled"] = str(form.get("alerts_enabled", "")).lower() in ("on", "true", "1", "yes")
    if str(form.get(FORM_REMOVE_TARGET, "")).lower() in ("on", "true", "1", "yes"):
        changes["personal_target"] = None
    elif str(form.get("personal_target", "")).strip():
        changes["personal_target"] = str(form["personal_target"])
    if errors:
        raise PreferencesInvalid(errors)
    return changes


class PreferencesService:
    """Read and change one account's preferences; each call owns its transaction and audit row."""

    def __init__(self, settings: Settings, engine: Engine, *, clock: Clock = utcnow) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self.vault = Vault(settings.security.encryption_keys)

    @staticmethod
    def _may_see(caller: Caller | None, account_id: uuid.UUID) -> None:
        if caller is not None and not caller.is_admin and caller.account_id != account_id:
            raise Forbidden("You may only see and change your own preferences.", code="not-your-account")

    def get(self, account_id: uuid.UUID, caller: Caller | None = None) -> Preferences:
        """The account's preferences (NotFound for no such account; Forbidden for someone else's)."""
        self._may_see(caller, account_id)
        with self.engine.connect() as conn:
            row = conn.execute(load_sql("preferences_of"), {"account_id": account_id}).mappings().one_or_none()
        if row is None:
            raise NotFound(f"No account {account_id}.", code="account-not-found")
        return self._view(row)

    def _view(self, row: Mapping[str, Any]) -> Preferences:
        config = effective_config(self.settings, self.engine)
        own_w, own_c = row["warning_threshold_percent"], row["critical_threshold_percent"]
        w = own_w if own_w is not None else config.warning_threshold_percent
        c = own_c if own_c is not None else config.critical_threshold_percent
        if w >= c:  # what alerts.Thresholds.for_account does with a lone value crossing the global other
            w, c = config.warning_threshold_percent, config.critical_threshold_percent
        targets = open_personal(self.vault, row["notify_targets_ciphertext"], row["account_id"])
        return Preferences(
            account_id=row["account_id"],
            email=row["email"],
            alerts_enabled=bool(row["alerts_enabled"]),
            warning_threshold_percent=own_w,
            critical_threshold_percent=own_c,
            effective_warning_threshold_percent=w,
            effective_critical_threshold_percent=c,
            personal_target=mask_target(targets[0]) if targets else None,
            updated_at=row["updated_at"],
        )

    def update(
        self,
        account_id: uuid.UUID,
        changes: Mapping[str, Any],
        actor: Caller,
        context: RequestContext = audit.SYSTEM,
    ) -> Preferences:
        """Validate a partial change against the rules and the stored values, store it, audit it.

        Rules: 0 < warning < critical <= 100 (a value left out or null counts as the global one),
        warning above the hysteresis margin; `alerts_enabled` true or false; `personal_target` an
        apprise URL with an accepted scheme that apprise can use, or null/"" to remove it.
        Raises PreferencesInvalid naming every bad field, NotFound, Forbidden.
        """
        self._may_see(actor, account_id)
        if not changes:
            raise InvalidInput("send at least one preference to change", code="invalid-preferences")
        errors: dict[str, str] = {}
        clean: dict[str, Any] = {}
        for key, value in changes.items():
            parser = _PARSERS.get(key)
            if parser is None:
                errors[key] = f"unknown preference (known: {', '.join(KEYS)})"
                continue
            try:
                clean[key] = parser(value)
            except ValueError as exc:
                errors[key] = str(exc)
        if errors:
            raise PreferencesInvalid(errors)
        config = effective_config(self.settings, self.engine)
        now = self.clock()
        with self.engine.begin() as conn:
            if conn.execute(load_sql("preferences_lock"), {"account_id": account_id}).first() is None:
                raise NotFound(f"No account {account_id}.", code="account-not-found")
            row = conn.execute(load_sql("preferences_of"), {"account_id": account_id}).mappings().one()
            warning = clean.get("warning_threshold_percent", row["warning_threshold_percent"])
            critical = clean.get("critical_threshold_percent", row["critical_threshold_percent"])
            self._check_pair(warning, critical, config.warning_threshold_percent,
                             config.critical_threshold_percent, config.hysteresis_margin_percent, clean)  # fmt: skip
            if "personal_target" in clean:
                target = clean["personal_target"]
                blob = seal_personal(self.vault, [target] if target else [], account_id)
            else:
                blob = row["notify_targets_ciphertext"]
            conn.execute(
                load_sql("upsert_preferences"),
                {
                    "account_id": account_id,
                    "alerts_enabled": clean.get("alerts_enabled", row["alerts_enabled"]),
                    "warning": warning,
                    "critical": critical,
                    "targets": blob,
                    "now": now,
                },
            )
            with Session(bind=conn) as db:
                audit.record(
                    db,
                    action=audit.Action.PREFERENCES_CHANGED,
                    actor=actor.subject,
                    actor_account_id=actor.acting_account_id,
                    subject=row["email"],
                    context=context,
                    details={"account_id": str(account_id), "changed": sorted(clean)},
                    at=now,
                )
                db.flush()
        return self.get(account_id)

    def update_from_form(
        self,
        account_id: uuid.UUID,
        form: Mapping[str, str],
        actor: Caller,
        context: RequestContext = audit.SYSTEM,
    ) -> Preferences:
        """`update` with an HTML form's fields (see `form_changes`)."""
        self._may_see(actor, account_id)
        return self.update(account_id, form_changes(form), actor, context)

    @staticmethod
    def _check_pair(
        warning: float | None,
        critical: float | None,
        global_warning: float,
        global_critical: float,
        margin: float,
        changed: Mapping[str, Any],
    ) -> None:
        w = warning if warning is not None else global_warning
        c = critical if critical is not None else global_critical
        errors: dict[str, str] = {}
        if w >= c:
            if "warning_threshold_percent" in changed or "critical_threshold_percent" not in changed:
                errors["warning_threshold_percent"] = f"must be below the critical threshold ({c:g})"
            else:
                errors["critical_threshold_percent"] = f"must be above the warning threshold ({w:g})"
        elif w <= margin:
            errors["warning_threshold_percent"] = f"must be above the hysteresis margin ({margin:g})"
        if errors:
            raise PreferencesInvalid(errors)
