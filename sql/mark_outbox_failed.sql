-- Not delivered: stays visible as 'failed' with the error and the time of the next try.
UPDATE notification_outbox
SET status = 'failed', last_error = :error, next_attempt_at = :next_attempt_at, updated_at = :now
WHERE id = :id AND status = 'sending'
