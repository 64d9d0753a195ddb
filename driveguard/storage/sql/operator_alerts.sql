-- The newest alerts (`driveguard alerts list`), optionally of one account or kind, with how far their
-- notifications got (outbox rows by status).
SELECT al.id AS alert_id, a.email, al.kind::text AS kind, al.interval_start, al.usage_percent,
       al.usage_bytes, al.limit_bytes, al.created_at,
       count(o.id) FILTER (WHERE o.status = 'sent') AS sent,
       count(o.id) FILTER (WHERE o.status IN ('pending', 'sending')) AS pending,
       count(o.id) FILTER (WHERE o.status = 'failed') AS failed
FROM alert al
JOIN google_account a ON a.id = al.account_id
LEFT JOIN notification_outbox o ON o.alert_id = al.id
WHERE (CAST(:account_id AS uuid) IS NULL OR al.account_id = CAST(:account_id AS uuid))
  AND (CAST(:kind AS text) IS NULL OR al.kind = CAST(:kind AS alert_kind))
GROUP BY al.id, a.email
ORDER BY al.interval_start DESC, a.email, al.kind
LIMIT :limit
