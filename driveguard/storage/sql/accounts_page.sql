-- One page of the admin's account list: every account, with its newest usage from the read model
-- (NULLs before the first snapshot; the join is an inner one when every account has a read model
-- row, see reads.py). Python (driveguard/storage/reads.py) fills the two markers
-- from fixed fragments only: the filters plus the keyset condition (WHERE) and the sort (ORDER);
-- values are always bound. Each sort key has an index that matches its order (migration 0008).
SELECT a.id AS account_id, a.email, a.status AS account_status,
       l.usage_bytes AS used_bytes, l.limit_bytes, l.usage_percent, l.level, l.collected_at,
       l.usage_bytes - l.usage_bytes_24h_ago AS growth_24h_bytes,
       l.usage_bytes - l.usage_bytes_7d_ago AS growth_7d_bytes
FROM google_account a
LEFT JOIN storage_latest l ON l.account_id = a.id
WHERE /*WHERE*/
ORDER BY /*ORDER*/
LIMIT :limit
