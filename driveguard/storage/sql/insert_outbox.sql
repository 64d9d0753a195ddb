-- One outbox row per alert (or grant episode) and target, written in the transaction that caused it.
-- The idempotency key (alert or episode id + target hash) is unique: a message is enqueued once, ever.
-- `target` is the masked form; the URL itself is in `target_ciphertext`, sealed to the row id.
INSERT INTO notification_outbox (
    id, alert_id, grant_episode_id, idempotency_key, target, target_ciphertext, title, body, status, attempts,
    next_attempt_at, created_at, updated_at
)
SELECT r.id, r.alert_id, r.grant_episode_id, r.idempotency_key, r.target, r.target_ciphertext, r.title, r.body,
       'pending', 0, :now, :now, :now
FROM unnest(
    CAST(:ids AS uuid[]),
    CAST(:alert_ids AS uuid[]),
    CAST(:grant_episode_ids AS uuid[]),
    CAST(:keys AS text[]),
    CAST(:targets AS text[]),
    CAST(:target_ciphertexts AS bytea[]),
    CAST(:titles AS text[]),
    CAST(:bodies AS text[])
) AS r(id, alert_id, grant_episode_id, idempotency_key, target, target_ciphertext, title, body)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING id
