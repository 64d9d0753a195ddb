-- Delivered: only a row this dispatcher still holds moves to 'sent'. The claim is fenced by its
-- attempt number: if the lease ran out and another dispatcher claimed the row since (attempts
-- went up), this matches nothing and the newer claim decides.
UPDATE notification_outbox
SET status = 'sent', sent_at = :now, last_error = NULL, updated_at = :now
WHERE id = :id AND status = 'sending' AND attempts = :attempts
