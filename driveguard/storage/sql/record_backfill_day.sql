-- One fetch of a Reports day: count the attempt and decide the day's status in one statement.
-- A complete answer makes the day `complete` (whatever it was); a partial one keeps it `partial`
-- until :max_attempts fetches (or :too_old, past BACKFILL_MAX_WAIT_DAYS) make it `gave_up`.
INSERT INTO backfill_day AS b (
    day, status, attempts, reported_users, matched_accounts, warning, first_attempt_at, last_attempt_at, completed_at
)
VALUES (
    :day,
    CASE WHEN NOT :partial THEN 'complete' WHEN 1 >= :max_attempts OR :too_old THEN 'gave_up' ELSE 'partial' END,
    1, :reported_users, :matched_accounts, :warning, :now, :now,
    CASE WHEN NOT :partial THEN CAST(:now AS timestamptz) END
)
ON CONFLICT (day) DO UPDATE SET
    status = CASE
        WHEN NOT :partial THEN 'complete'
        WHEN b.attempts + 1 >= :max_attempts OR :too_old THEN 'gave_up'
        ELSE 'partial'
    END,
    attempts = b.attempts + 1,
    reported_users = EXCLUDED.reported_users,
    matched_accounts = EXCLUDED.matched_accounts,
    warning = EXCLUDED.warning,
    last_attempt_at = EXCLUDED.last_attempt_at,
    completed_at = CASE WHEN NOT :partial THEN EXCLUDED.last_attempt_at ELSE b.completed_at END
RETURNING b.status, b.attempts
