-- GDPR erasure: the account goes (its snapshots, sessions and alerts cascade), unless the
-- erasure request was withdrawn meanwhile.
DELETE FROM google_account WHERE id = :id AND erasure_requested_at IS NOT NULL
