-- The outbox rows of some grant episodes: the masked target, which edge (from the idempotency key
-- grant:<episode>:<edge>:<target hash>) and the delivery state.
SELECT grant_episode_id AS episode_id,
       split_part(idempotency_key, ':', 3) AS edge,
       target,
       status,
       attempts,
       sent_at,
       last_error
FROM notification_outbox
WHERE grant_episode_id = ANY(CAST(:episode_ids AS uuid[]))
ORDER BY created_at, idempotency_key
