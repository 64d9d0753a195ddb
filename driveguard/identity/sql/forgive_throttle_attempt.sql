-- Take back one counted attempt that turned out to be legitimate (a good callback); any delay stays.
UPDATE request_throttle SET attempts = GREATEST(attempts - 1, 0) WHERE bucket = :bucket
