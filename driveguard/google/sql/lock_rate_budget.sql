-- One booking at a time across every task, process and worker.
SELECT multiplier, last_throttle_at, sent_at, sent_parts
FROM google_rate_budget
WHERE name = :name
FOR UPDATE
