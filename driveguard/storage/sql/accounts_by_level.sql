-- Accounts per current warning level, from the read model's pre-aggregate (migration 0009: a
-- handful of slot rows, never a count over every account); levels without accounts are left out.
SELECT counted.level, counted.accounts
FROM (
    SELECT 'normal' AS level, sum(normal) AS accounts FROM storage_latest_totals
    UNION ALL SELECT 'warning', sum(warning) FROM storage_latest_totals
    UNION ALL SELECT 'critical', sum(critical) FROM storage_latest_totals
) counted
WHERE counted.accounts > 0
