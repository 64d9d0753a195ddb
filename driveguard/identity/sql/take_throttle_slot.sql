-- One attempt against one throttle bucket, counted before the attempt's work is done: the row is
-- created or updated under its row lock, so parallel attempts are counted one after another and
-- the n-th sees the (n-1)-th. A new window starts once the current one is over. From the
-- `free`-th attempt of a window on, the next attempt must wait base * 2^(n - free) seconds,
-- capped at max_seconds: a delay that grows and is bounded, never a lockout.
-- Without a wait, next_allowed_at is set a window back: parallel attempts read the clock before
-- they wait for the row lock, and an earlier "now" must not find itself refused.
-- A window that starts more than a window after "now" (the clock was set back) is over, like an
-- expired one; a small difference is parallel attempts reading the clock, not a reset.
-- No row returned: the bucket is waiting (next_allowed_at is in the future); nothing was counted.
INSERT INTO request_throttle AS t (bucket, attempts, window_started_at, next_allowed_at)
VALUES (
    :bucket,
    1,
    :now,
    :now + make_interval(secs => CASE WHEN 1 >= :free
        THEN LEAST(CAST(:max_seconds AS float8), CAST(:base_seconds AS float8) * power(CAST(2 AS float8), LEAST(1 - :free, 30))) ELSE -CAST(:window_seconds AS float8) END)
)
ON CONFLICT (bucket) DO UPDATE SET
    attempts = CASE WHEN (t.window_started_at <= :window_start OR t.window_started_at > :window_end) THEN 1 ELSE t.attempts + 1 END,
    window_started_at = CASE WHEN (t.window_started_at <= :window_start OR t.window_started_at > :window_end) THEN :now ELSE t.window_started_at END,
    next_allowed_at = :now + make_interval(secs => CASE
        WHEN (CASE WHEN (t.window_started_at <= :window_start OR t.window_started_at > :window_end) THEN 1 ELSE t.attempts + 1 END) >= :free
        THEN LEAST(
            CAST(:max_seconds AS float8),
            CAST(:base_seconds AS float8) * power(
                CAST(2 AS float8),
                LEAST((CASE WHEN (t.window_started_at <= :window_start OR t.window_started_at > :window_end) THEN 1 ELSE t.attempts + 1 END) - :free, 30)
            )
        )
        ELSE -CAST(:window_seconds AS float8) END)
WHERE t.next_allowed_at <= :now OR t.window_started_at > :window_end
RETURNING attempts
