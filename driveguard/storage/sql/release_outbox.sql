-- Hand back a claimed row that was not sent (its lease was about to run out): it is due again at
-- once, and the attempt it was charged for is returned. Fenced by the claim's attempt number, so
-- only the claim that still holds the row can hand it back. (Returning the attempt keeps the
-- fence sound: a row is 'sending' at attempt n only through a claim from n - 1, and it gets back
-- to n - 1 only through this release by the holder of that claim.)
UPDATE notification_outbox
SET status = CASE WHEN attempts > 1 THEN 'failed'::outbox_status ELSE 'pending'::outbox_status END,
    attempts = attempts - 1,
    next_attempt_at = :now,
    updated_at = :now
WHERE id = :id AND status = 'sending' AND attempts = :attempts
