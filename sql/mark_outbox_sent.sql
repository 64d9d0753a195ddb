-- Delivered: only a row this dispatcher still holds ('sending') moves to 'sent'.
UPDATE notification_outbox
SET status = 'sent', sent_at = :now, last_error = NULL, updated_at = :now
WHERE id = :id AND status = 'sending'
