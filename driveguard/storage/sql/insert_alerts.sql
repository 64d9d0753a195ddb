-- Alerts for a chunk; unique per (account, interval, kind), so a re-evaluation adds nothing.
INSERT INTO alert (id, account_id, kind, interval_start, usage_percent, usage_bytes, limit_bytes, created_at, updated_at)
SELECT r.id, r.account_id, r.kind, :interval_start, r.usage_percent, r.usage_bytes, r.limit_bytes, :now, :now
FROM unnest(
    CAST(:ids AS uuid[]),
    CAST(:account_ids AS uuid[]),
    CAST(:kinds AS alert_kind[]),
    CAST(:usage_percents AS double precision[]),
    CAST(:usage_bytes AS bigint[]),
    CAST(:limit_bytes AS bigint[])
) AS r(id, account_id, kind, usage_percent, usage_bytes, limit_bytes)
ON CONFLICT ON CONSTRAINT uq_alert_account_interval_kind DO NOTHING
RETURNING id, account_id, kind
