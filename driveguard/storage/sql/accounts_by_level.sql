-- Accounts per current warning level (from the latest-usage read model).
SELECT level::text, count(*) FROM storage_latest GROUP BY 1
