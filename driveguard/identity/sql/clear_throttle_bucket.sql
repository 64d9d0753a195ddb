-- Forget a bucket: its owner proved who they are (the right admin password).
DELETE FROM request_throttle WHERE bucket = :bucket
