-- One alert evaluation at a time per database (held until the chunk's transaction ends):
-- concurrent runs of the same interval would otherwise race between reading and writing the state.
SELECT pg_advisory_xact_lock(hashtext('driveguard.storage.alerts'))
