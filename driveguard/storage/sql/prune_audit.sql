-- Audit rows older than the retention, a chunk at a time.
DELETE FROM audit_log
WHERE id IN (SELECT id FROM audit_log WHERE occurred_at < :cutoff LIMIT :limit)
