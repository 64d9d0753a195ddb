-- When a waiting bucket allows its next attempt (for Retry-After).
SELECT next_allowed_at FROM request_throttle WHERE bucket = :bucket
