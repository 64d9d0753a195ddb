-- Not delivered: stays visible as 'failed' with the error and the time of the next try. Fenced
-- like mark_outbox_sent: a late failure from a claim that lost its lease changes nothing.
UPDATE notification_outbox
SET status = 'failed', last_error = :error, next_attempt_at = :next_attempt_at, updated_at = :now
WHERE id = :id AND status = 'sending' AND attempts = :attempts
