-- Give up waiting for a row lock after :milliseconds, for the rest of this transaction only
-- (SET LOCAL cannot take a bind parameter; set_config with is_local = true is the same thing).
SELECT set_config('lock_timeout', :milliseconds, true)
