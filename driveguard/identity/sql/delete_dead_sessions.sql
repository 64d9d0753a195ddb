-- Sessions that ended (expired, idle too long, or revoked) before :cutoff, a chunk at a time.
DELETE FROM user_session
WHERE id IN (
    SELECT id FROM user_session
    WHERE expires_at < :cutoff
       OR last_activity_at < :idle_cutoff
       OR (revoked_at IS NOT NULL AND revoked_at < :cutoff)
    LIMIT :limit
)
