-- The accounts of one refresh shard that are (still) due before :horizon.
SELECT id
FROM refresh_due_accounts(:horizon)
WHERE id BETWEEN :first_id AND :last_id
ORDER BY id
