-- One outbox row per alert and target, written in the alert's transaction.
-- The idempotency key (alert id + target hash) is unique: a message is enqueued once, ever.
INSERT INTO notification_outbox (
    id, alert_id, idempotency_key, target, title, body, status, attempts, next_attempt_at, created_at, updated_at
)
SELECT r.id, r.alert_id, r.idempotency_key, r.target, r.title, r.body, 'pending', 0, :now, :now, :now
FROM unnest(
    CAST(:ids AS uuid[]),
    CAST(:alert_ids AS uuid[]),
    CAST(:keys AS text[]),
    CAST(:targets AS text[]),
    CAST(:titles AS text[]),
    CAST(:bodies AS text[])
) AS r(id, alert_id, idempotency_key, target, title, body)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING id
