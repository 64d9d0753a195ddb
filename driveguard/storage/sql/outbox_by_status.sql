-- Notification outbox messages per status.
SELECT status::text, count(*) FROM notification_outbox GROUP BY 1
