-- Buckets whose window ended long ago and that make nobody wait: they would start afresh anyway.
DELETE FROM request_throttle WHERE window_started_at < :before AND next_allowed_at <= :now
