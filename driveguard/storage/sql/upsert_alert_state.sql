-- The state machine's new positions for a chunk of accounts. An interval older than the one a
-- state was last evaluated for never moves it back (late or repeated evaluations are no-ops).
INSERT INTO alert_state AS st (
    account_id, level, usage_percent, evaluated_interval_start, level_since, last_notified_at, updated_at
)
SELECT r.account_id, r.level, r.usage_percent, r.evaluated_interval_start, r.level_since, r.last_notified_at, :now
FROM unnest(
    CAST(:account_ids AS uuid[]),
    CAST(:levels AS warning_level[]),
    CAST(:usage_percents AS double precision[]),
    CAST(:evaluated AS timestamptz[]),
    CAST(:level_since AS timestamptz[]),
    CAST(:last_notified AS timestamptz[])
) AS r(account_id, level, usage_percent, evaluated_interval_start, level_since, last_notified_at)
ON CONFLICT (account_id) DO UPDATE SET
    level = EXCLUDED.level,
    usage_percent = EXCLUDED.usage_percent,
    evaluated_interval_start = EXCLUDED.evaluated_interval_start,
    level_since = EXCLUDED.level_since,
    last_notified_at = EXCLUDED.last_notified_at,
    updated_at = EXCLUDED.updated_at
WHERE st.evaluated_interval_start IS NULL
   OR st.evaluated_interval_start < EXCLUDED.evaluated_interval_start
RETURNING account_id
