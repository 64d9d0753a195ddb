"""Pure pieces of the pipelines: rate limiter, backoff, error classes, the alert state machine,
configuration checks, idempotency keys and small helpers. No database, no network."""

from __future__ import annotations

import datetime as dt
import random
import uuid

import pytest
from support.clock import FakeTime
from support.settings import settings_for

from driveguard.backoff import Backoff
from driveguard.db.models import AlertKind, WarningLevel
from driveguard.db.shards import shard_size_for
from driveguard.google.drive import parse_storage_quota
from driveguard.google.ratelimit import TokenBucket
from driveguard.google.reports import parse_report
from driveguard.google.retry import Failure, classify, google_error
from driveguard.storage.alerts import Thresholds, decide, idempotency_key, next_level, targets_for, usage_percent
from driveguard.storage.backfill import not_ready_reschedule_at
from driveguard.storage.collection import CollectionIncomplete, check_shard
from driveguard.storage.interval import Interval, floor_interval
from driveguard.storage.monitoring import ConfigValidationError, check_apprise_url, defaults, validate_patch
from driveguard.storage.notifications import with_idempotency
from driveguard.storage.runs import ShardsFailed, check_all_shards, sum_counts

N, W, C = WarningLevel.NORMAL, WarningLevel.WARNING, WarningLevel.CRITICAL
T = Thresholds(warning=80, critical=90, margin=2)
AT = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)
DAY = dt.timedelta(hours=24)


def settings(**extra: str):
    return settings_for(**extra)


# -- rate limiter ---------------------------------------------------------------------------


def test_token_bucket_keeps_the_long_run_rate_and_lets_one_batch_through_at_once():
    t = FakeTime()
    bucket = TokenBucket(600, clock=t.clock, sleep=t.sleep)  # 10 per second, capacity 10
    for _ in range(10):
        bucket.acquire(100)  # 1000 parts: a batch goes out whole, the next one waits for its debt
    assert t.now == pytest.approx(90)
    bucket.acquire(1)  # whatever comes next waits until the 1000 parts are paid for
    assert t.now == pytest.approx(99.1)  # (1000 + 1 - 10 banked) / 10 per second
    assert bucket.stats.acquired == 1001


def test_token_bucket_throttles_on_rate_limits_and_recovers_to_the_ceiling():
    t = FakeTime()
    bucket = TokenBucket(6000, clock=t.clock, sleep=t.sleep)
    bucket.throttle()
    assert bucket.current_rate_per_minute == pytest.approx(4200)
    for _ in range(100):
        bucket.recover()
    assert bucket.current_rate_per_minute == pytest.approx(6000)
    for _ in range(100):
        bucket.throttle()
    assert bucket.current_rate_per_minute == pytest.approx(300)  # the floor: 1/20 of the ceiling


# -- retries --------------------------------------------------------------------------------


def test_backoff_is_capped_exponential_with_jitter_and_honours_retry_after():
    backoff = Backoff(0.5, 8.0, rng=random.Random(7).random)  # noqa: S311 - jitter, not security
    delays = [backoff.delay(n) for n in range(1, 7)]
    for n, delay in enumerate(delays, start=1):
        ceiling = min(8.0, 2 ** (n - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert backoff.delay(1, retry_after=5) == 5
    assert backoff.delay(1, retry_after=500) == 8.0  # never beyond the cap


@pytest.mark.parametrize(
    ("status", "reason", "kind"),
    [
        (429, "rateLimitExceeded", Failure.RATE_LIMITED),
        (403, "userRateLimitExceeded", Failure.RATE_LIMITED),
        (403, "rateLimitExceeded", Failure.RATE_LIMITED),
        (403, "insufficientPermissions", Failure.PERMANENT),
        (500, "backendError", Failure.TRANSIENT),
        (503, None, Failure.TRANSIENT),
        (401, "authError", Failure.AUTH),
        (404, "notFound", Failure.PERMANENT),
    ],
)
def test_google_errors_are_classified_like_googles_guidance(status, reason, kind):
    assert classify(status, reason) is kind


def test_google_error_reads_reason_message_and_retry_after_from_the_body():
    body = b'{"error": {"code": 429, "message": "Rate Limit Exceeded", "errors": [{"reason": "rateLimitExceeded"}]}}'
    error = google_error(429, body, "3")
    assert (error.reason, error.message, error.retry_after, error.kind) == (
        "rateLimitExceeded", "Rate Limit Exceeded", 3.0, Failure.RATE_LIMITED,
    )  # fmt: skip
    assert google_error(502, b"<html>bad gateway</html>").kind is Failure.TRANSIENT


# -- parsing --------------------------------------------------------------------------------


def test_storage_quota_numbers_are_strings_and_a_missing_limit_means_unlimited():
    quota = parse_storage_quota(
        {
            "storageQuota": {
                "limit": "16106127360",
                "usage": "5712316416",
                "usageInDrive": "4530073600",
                "usageInDriveTrash": "12582912",
            }
        }
    )
    assert (quota.usage, quota.limit, quota.usage_in_drive, quota.usage_in_trash) == (
        5712316416, 16106127360, 4530073600, 12582912,
    )  # fmt: skip
    assert parse_storage_quota({"storageQuota": {"usage": "1"}}).unlimited
    with pytest.raises(ValueError):
        parse_storage_quota({"user": {}})


def test_reports_entries_convert_mib_and_treat_minus_one_as_unlimited():
    day = dt.date(2026, 11, 20)
    item = {
        "entity": {"userEmail": "A@Example.com"},
        "parameters": [
            {"name": "accounts:used_quota_in_mb", "intValue": "5448"},
            {"name": "accounts:total_quota_in_mb", "intValue": "-1"},
            {"name": "accounts:drive_used_quota_in_mb", "intValue": "100"},
        ],
    }
    usage = parse_report(item, day)
    assert usage is not None
    assert (usage.email, usage.usage_bytes, usage.limit_bytes, usage.usage_in_drive_bytes) == (
        "a@example.com", 5448 * 1024**2, None, 100 * 1024**2,
    )  # fmt: skip
    assert parse_report({"entity": {"userEmail": "b@example.com"}, "parameters": []}, day) is None


# -- the alert state machine ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "percent", "expected"),
    [
        (N, 79.9, N), (N, 80, W), (N, 95, C), (W, 79, W), (W, 77.9, N), (C, 88.5, C),
        (C, 87.9, W), (C, 78.5, W), (C, 77, N), (W, 90, C), (C, None, N), (N, None, N),
    ],
)  # fmt: skip
def test_levels_rise_at_thresholds_and_fall_only_below_threshold_minus_margin(current, percent, expected):
    assert next_level(current, percent, T) is expected


def test_transitions_raise_warning_critical_resolved_and_repeat_unresolved_critical():
    def step(current, percent, last=None):
        return decide(current, percent, T, at=AT, level_since=None, last_notified_at=last, repeat_after=DAY)

    assert step(N, 85).alert is AlertKind.WARNING
    assert step(N, 95).alert is AlertKind.CRITICAL
    assert step(W, 95).alert is AlertKind.CRITICAL
    assert step(W, 85).alert is None
    assert step(C, 85).alert is None  # down to warning: no notice
    assert step(C, 50).alert is AlertKind.RESOLVED
    assert step(W, 50).alert is AlertKind.RESOLVED
    assert step(C, 95, last=AT - dt.timedelta(hours=23)).alert is None
    repeat = step(C, 95, last=AT - dt.timedelta(hours=24))
    assert repeat.alert is AlertKind.CRITICAL_REPEAT and repeat.last_notified_at == AT
    assert step(N, None).alert is None  # unlimited accounts never alert


def test_per_account_thresholds_override_and_crossed_values_fall_back():
    config = defaults(settings())
    assert Thresholds.for_account(config, 50, 60) == Thresholds(50, 60, 2)
    assert Thresholds.for_account(config, 95, None) == Thresholds(80, 90, 2)
    assert usage_percent(5, None) is None and usage_percent(5, 10) == 50


def test_targets_combine_environment_configuration_and_account_deduplicated():
    s = settings(APPRISE_URLS="mailto://a.example?to=x@y.z json://h.example/x")
    config = defaults(s)
    config = type(config)(**{**config.__dict__, "apprise_urls": ("json://h.example/x", "slack://t/a/b")})
    targets = targets_for(s, config, ["json://own.example/hook", "ftp://nope", 7])
    assert targets == ["mailto://a.example?to=x@y.z", "json://h.example/x", "slack://t/a/b", "json://own.example/hook"]


def test_idempotency_key_is_per_alert_and_target_and_travels_in_headers():
    alert = uuid.UUID("01a20c7e-4d67-76ae-9952-787750958796")
    key = idempotency_key(alert, "json://h/x")
    assert key.startswith(str(alert)) and key != idempotency_key(alert, "json://h/y") and len(key) <= 128
    assert with_idempotency("json://h:8/x", key) == f"json://h:8/x?+Idempotency-Key={key.replace(':', '%3A')}" + (
        f"&:idempotency_key={key.replace(':', '%3A')}"
    )
    mail = with_idempotency("mailto://h:25?from=a@b.c&to=d@e.f", key)
    assert mail.endswith(f"&+X-Idempotency-Key={key.replace(':', '%3A')}")
    assert with_idempotency("slack://a/b/c", key) == "slack://a/b/c"


# -- configuration ----------------------------------------------------------------------------


def test_configuration_patches_are_validated_and_name_every_bad_key():
    current = defaults(settings())
    with pytest.raises(ConfigValidationError) as caught:
        validate_patch(
            {"warning_threshold_percent": "80", "collect_every_hours": 5, "apprise_urls": ["http://x"], "nope": 1},
            current,
        )
    assert set(caught.value.errors) == {"warning_threshold_percent", "collect_every_hours", "apprise_urls", "nope"}
    with pytest.raises(ConfigValidationError) as crossed:
        validate_patch({"critical_threshold_percent": 70}, current)
    assert "warning_threshold_percent" in crossed.value.errors
    assert validate_patch({"critical_threshold_percent": 95, "alerts_enabled": False}, current) == {
        "critical_threshold_percent": 95.0, "alerts_enabled": False,
    }  # fmt: skip
    assert check_apprise_url("mailtos://user:pw@smtp.example.com") is None
    assert "scheme" in (check_apprise_url("javascript://x") or "")


# -- helpers ----------------------------------------------------------------------------------


def test_manual_runs_without_a_data_interval_use_the_last_complete_one():
    interval = floor_interval(dt.datetime(2026, 11, 20, 10, 37, tzinfo=dt.UTC), dt.timedelta(hours=1))
    assert interval == Interval(AT - dt.timedelta(hours=1), AT)
    daily = floor_interval(AT, dt.timedelta(days=1))
    assert daily.start == dt.datetime(2026, 11, 19, tzinfo=dt.UTC)


def test_intervals_are_utc_aware_and_never_empty():
    assert Interval.of("2026-11-20T11:00:00+01:00", "2026-11-20T12:00:00+01:00") == Interval(
        AT, AT + dt.timedelta(hours=1)
    )
    with pytest.raises(ValueError, match="timezone-aware"):
        Interval(dt.datetime(2026, 11, 20, 10), dt.datetime(2026, 11, 20, 11))
    with pytest.raises(ValueError, match="after its start"):
        Interval(AT, AT)


def test_a_day_google_has_not_published_is_looked_at_again_until_it_is_too_old_to_wait_for():
    day = Interval(AT - DAY, AT)
    waiting = {"retry_seconds": 3600, "max_wait_days": 7}
    assert not_ready_reschedule_at(AT + DAY, day, **waiting) == AT + DAY + dt.timedelta(hours=1)
    assert not_ready_reschedule_at(AT + 7 * DAY, day, **waiting) is not None
    assert not_ready_reschedule_at(AT + 7 * DAY + dt.timedelta(seconds=1), day, **waiting) is None


def test_shards_grow_to_stay_under_airflows_map_limit_and_counts_add_up():
    assert shard_size_for(10, 500) == 500
    assert shard_size_for(2_000_000, 500) == 2000  # 1000 shards at most
    total = sum_counts([{"collected": 2, "max_parts": 100, "shard": 0, "backoff_seconds": 0.5},
                        {"collected": 3, "max_parts": 40, "shard": 1, "backoff_seconds": 0.25}, None])  # fmt: skip
    assert total == {"backoff_seconds": 0.75, "collected": 5, "max_parts": 100}


def test_a_lost_shard_fails_the_summary_after_its_counts_are_kept():
    check_all_shards([{"shard": 0}, {"shard": 1}], [{"refreshed": 1}, {"refreshed": 2}])
    with pytest.raises(ShardsFailed, match="1 of 2"):
        check_all_shards([{"shard": 0}, {"shard": 1}], [{"refreshed": 1}])


def test_a_shard_with_accounts_left_without_a_snapshot_is_retried():
    check_shard({"collected": 10, "failed_transient": 0, "token_unavailable": 0})
    with pytest.raises(CollectionIncomplete, match="2 account"):
        check_shard({"collected": 8, "failed_transient": 2})
    with pytest.raises(CollectionIncomplete, match="3 account"):
        check_shard({"collected": 7, "token_unavailable": 3})  # the token endpoint was down: retry too


def test_huge_numbers_and_out_of_range_margins_are_validation_errors_not_crashes():
    current = defaults(settings())
    with pytest.raises(ConfigValidationError) as caught:
        validate_patch({"warning_threshold_percent": 10**400, "refresh_margin_minutes": 60}, current)
    assert set(caught.value.errors) == {"warning_threshold_percent", "refresh_margin_minutes"}
