-- Claim due messages for delivery. SKIP LOCKED lets several dispatchers run side by side without
-- taking the same row; the claim commits BEFORE sending: status 'sending', one more attempt, and
-- a lease (next_attempt_at) after which a dispatcher that died mid-send is presumed dead and the
-- row may be claimed again. Rows already 'sent' are never selected. The returned attempts is the
-- claim's fencing token: marking the row sent/failed or releasing it requires it to be unchanged.
UPDATE notification_outbox o
SET status = 'sending',
    attempts = o.attempts + 1,
    next_attempt_at = :lease_until,
    updated_at = :now
FROM (
    SELECT id, status AS previous_status
    FROM notification_outbox
    WHERE status IN ('pending', 'failed', 'sending')
      AND next_attempt_at <= :now
      AND attempts < :max_attempts
    ORDER BY next_attempt_at, id
    LIMIT :limit
    FOR UPDATE SKIP LOCKED
) due
WHERE o.id = due.id
RETURNING o.id, o.idempotency_key, o.target_ciphertext, o.title, o.body, o.attempts, due.previous_status
