"""Monitoring configuration: environment defaults, overridden at run time by `monitoring_config`.

The API (`POST /api/storage/monitoring/configure`) validates a patch with `validate_patch` and
stores each key as a JSONB row; every DAG task reads `effective_config` when it runs, so a
change applies from the next task on, without redeploying or re-parsing DAG files.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection, Engine

from driveguard.config import Settings
from driveguard.errors import InvalidInput
from driveguard.identity.vault import Vault
from driveguard.storage.sql import load_sql
from driveguard.storage.targets import open_config_urls, seal_config_urls

# Apprise schemes Driveguard accepts for alert targets: mail, JSON/form webhooks and the
# common chat services. Anything else is refused at configuration time, not at 3 a.m.
APPRISE_SCHEMES = frozenset(
    {
        "mailto", "mailtos", "json", "jsons", "form", "forms", "xml", "xmls",
        "slack", "discord", "msteams", "tgram", "matrix", "matrixs", "ntfy", "ntfys",
        "gotify", "gotifys", "pover", "pagerduty", "opsgenie", "signal", "signals",
        "mmost", "mmosts", "rocket", "rockets", "zulip", "apprise", "apprises",
    }
)  # fmt: skip
COLLECT_EVERY_HOURS = (1, 2, 3, 4, 6, 8, 12, 24)


@dataclass(frozen=True)
class MonitoringConfig:
    warning_threshold_percent: float
    critical_threshold_percent: float
    hysteresis_margin_percent: float
    critical_repeat_hours: int
    alerts_enabled: bool
    apprise_urls: tuple[str, ...]
    """Targets configured at run time; alerts go to these plus APPRISE_URLS plus per-account ones."""
    collect_every_hours: int
    refresh_margin_minutes: int
    raw_retention_days: int

    def public(self) -> MonitoringConfig:
        """The configuration without secrets (apprise URLs reduced to their scheme and host), safe to show."""
        return replace(self, apprise_urls=tuple(redact_target(url) for url in self.apprise_urls))


class ConfigValidationError(InvalidInput, ValueError):
    """A settings patch that breaks the rules; `errors` names each bad key and why."""

    default_code = "invalid-config"
    default_title = "Invalid monitoring settings"

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


def defaults(settings: Settings) -> MonitoringConfig:
    m = settings.monitoring
    return MonitoringConfig(
        warning_threshold_percent=m.warning_threshold_percent,
        critical_threshold_percent=m.critical_threshold_percent,
        hysteresis_margin_percent=m.hysteresis_margin_percent,
        critical_repeat_hours=m.critical_repeat_hours,
        alerts_enabled=True,
        apprise_urls=(),  # added to APPRISE_URLS from the environment, never replacing them
        collect_every_hours=1,
        refresh_margin_minutes=max(5, settings.security.token_refresh_margin_seconds // 60),
        raw_retention_days=settings.pipelines.raw_retention_days,
    )


def redact_target(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "") if host else f"{parts.scheme}://"


def check_apprise_url(url: Any) -> str | None:
    """None when `url` is an acceptable apprise target, else the reason it is not."""
    if not isinstance(url, str) or not url.strip():
        return "must be a non-empty string"
    if len(url) > 2000:
        return "is too long"
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in APPRISE_SCHEMES:
        return f"scheme {parts.scheme or '(none)'!r} is not an accepted apprise scheme"
    if not parts.netloc:
        return "needs a host"
    return None


def _number(value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number")
    if isinstance(value, int) and not low <= value <= high:  # huge JSON integers overflow a float
        raise ValueError(f"must be between {low:g} and {high:g}")
    if not math.isfinite(value):
        raise ValueError("must be a number")
    if not low <= value <= high:
        raise ValueError(f"must be between {low:g} and {high:g}")
    return float(value)


def _whole(value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be a whole number")
    if not low <= value <= high:
        raise ValueError(f"must be between {low} and {high}")
    return value


def _validators() -> dict[str, Any]:
    def urls(value: Any) -> list[str]:
        if not isinstance(value, list) or len(value) > 50:
            raise ValueError("must be a list of at most 50 apprise URLs")
        problems = [f"[{i}] {p}" for i, url in enumerate(value) if (p := check_apprise_url(url))]
        if problems:
            raise ValueError("; ".join(problems))
        return [u.strip() for u in value]

    def every(value: Any) -> int:
        hours = _whole(value, 1, 24)
        if hours not in COLLECT_EVERY_HOURS:
            raise ValueError(f"must be one of {', '.join(map(str, COLLECT_EVERY_HOURS))}")
        return hours

    def boolean(value: Any) -> bool:
        if not isinstance(value, bool):
            raise ValueError("must be true or false")
        return value

    return {
        "warning_threshold_percent": lambda v: _number(v, 1, 100),
        "critical_threshold_percent": lambda v: _number(v, 1, 100),
        "hysteresis_margin_percent": lambda v: _number(v, 0, 50),
        "critical_repeat_hours": lambda v: _whole(v, 1, 24 * 30),
        "alerts_enabled": boolean,
        "apprise_urls": urls,
        "collect_every_hours": every,
        # The token service refreshes at most 50 min ahead (3000 s); with the 10-min period, 45 is the top.
        "refresh_margin_minutes": lambda v: _whole(v, 4, 45),
        "raw_retention_days": lambda v: _whole(v, 1, 3650),
    }


KNOWN_KEYS = frozenset(_validators())


def validate_patch(patch: Mapping[str, Any], current: MonitoringConfig) -> dict[str, Any]:
    """Check a partial update against the rules and against the current values; returns clean values.

    Raises ConfigValidationError naming every bad key (unknown keys included).
    """
    validators = _validators()
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    for key, value in patch.items():
        if key not in validators:
            errors[key] = "unknown setting"
            continue
        try:
            clean[key] = validators[key](value)
        except ValueError as exc:
            errors[key] = str(exc)
    if not errors:
        warning = clean.get("warning_threshold_percent", current.warning_threshold_percent)
        critical = clean.get("critical_threshold_percent", current.critical_threshold_percent)
        margin = clean.get("hysteresis_margin_percent", current.hysteresis_margin_percent)
        if warning >= critical:
            errors["warning_threshold_percent"] = f"must be below critical_threshold_percent ({critical:g})"
        elif margin >= warning:
            errors["hysteresis_margin_percent"] = f"must be below warning_threshold_percent ({warning:g})"
    if errors:
        raise ConfigValidationError(errors)
    return clean


def stored_overrides(conn: Connection) -> dict[str, Any]:
    rows = conn.execute(load_sql("monitoring_config_overrides")).all()
    return {key: value for key, value in rows}


def effective_config(settings: Settings, source: Engine | Connection) -> MonitoringConfig:
    """Defaults from settings with valid `monitoring_config` rows on top (bad rows are ignored)."""
    base = defaults(settings)
    if isinstance(source, Engine):
        with source.connect() as conn:
            stored = stored_overrides(conn)
    else:
        stored = stored_overrides(source)
    values = asdict(base)
    validators = _validators()
    if "apprise_urls" in stored:  # sealed at rest (migration 0007): opened through the vault
        opened = open_config_urls(Vault(settings.security.encryption_keys), stored["apprise_urls"])
        if opened is None:
            del stored["apprise_urls"]
        else:
            stored["apprise_urls"] = opened
    for key, value in stored.items():
        if key in validators:
            try:
                values[key] = validators[key](value)
            except ValueError:
                continue
    values["apprise_urls"] = tuple(values["apprise_urls"])
    config = MonitoringConfig(**values)
    if config.warning_threshold_percent >= config.critical_threshold_percent:
        return base
    return config


def store(conn: Connection, clean: Mapping[str, Any], *, updated_by: str, vault: Vault) -> None:
    """Upsert validated keys (from `validate_patch`) into `monitoring_config`; apprise URLs are sealed."""
    for key, value in clean.items():
        if key == "apprise_urls":
            value = seal_config_urls(vault, value)
        conn.execute(
            load_sql("upsert_monitoring_config"), {"key": key, "value": json.dumps(value), "by": updated_by[:320]}
        )
