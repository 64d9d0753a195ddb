-- Hand back a claimed row that was not sent (its lease was about to run out): it is due again at
-- once, and the attempt it was charged for is returned.
UPDATE notification_outbox
SET status = CASE WHEN attempts > 1 THEN 'failed'::outbox_status ELSE 'pending'::outbox_status END,
    attempts = attempts - 1,
    next_attempt_at = :now,
    updated_at = :now
WHERE id = :id AND status = 'sending'
