-- One account's alerts, newest first, keyset-paged on (created_at, id) through ix_alert_account_created.
SELECT al.id, al.kind, al.interval_start, al.created_at, al.usage_percent, al.usage_bytes, al.limit_bytes
FROM alert al
WHERE al.account_id = :account_id
  AND (CAST(:before_at AS timestamptz) IS NULL
       OR (al.created_at, al.id) < (CAST(:before_at AS timestamptz), CAST(:before_id AS uuid)))
ORDER BY al.created_at DESC, al.id DESC
LIMIT :limit
