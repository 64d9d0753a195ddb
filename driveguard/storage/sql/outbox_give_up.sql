-- A lease that expired on the last allowed attempt: the dispatcher died after claiming (maybe
-- after sending). Mark it failed so it is visible instead of sitting in 'sending' forever.
UPDATE notification_outbox
SET status = 'failed',
    last_error = left('delivery outcome unknown: the dispatcher stopped while sending (attempt '
                      || attempts || '); not retried after ' || attempts || ' attempts', 2000),
    updated_at = :now
WHERE status = 'sending' AND next_attempt_at <= :now AND attempts >= :max_attempts
RETURNING id
