-- Delivered notifications older than the retention, a chunk at a time.
DELETE FROM notification_outbox
WHERE id IN (
    SELECT id FROM notification_outbox WHERE status = 'sent' AND sent_at < :cutoff LIMIT :limit
)
