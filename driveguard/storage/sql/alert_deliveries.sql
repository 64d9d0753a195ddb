-- The outbox messages of a page of alerts (their delivery state; the target is not read: it is a secret).
SELECT o.alert_id, o.id, o.status, o.attempts, o.created_at, o.next_attempt_at, o.sent_at
FROM notification_outbox o
WHERE o.alert_id = ANY(CAST(:alert_ids AS uuid[]))
ORDER BY o.alert_id, o.created_at, o.id
