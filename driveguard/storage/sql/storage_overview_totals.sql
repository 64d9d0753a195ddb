-- Totals for the overview header, from the pre-aggregate the triggers on storage_latest keep
-- (migration 0009: a handful of slot rows, whatever the number of accounts), and the newest
-- interval through the index on interval_end.
SELECT coalesce(sum(t.accounts), 0) AS accounts,
       coalesce(sum(t.normal), 0) AS normal,
       coalesce(sum(t.warning), 0) AS warning,
       coalesce(sum(t.critical), 0) AS critical,
       coalesce(sum(t.unlimited), 0) AS unlimited,
       coalesce(sum(t.usage_bytes), 0) AS usage_bytes,
       (SELECT max(interval_end) FROM storage_latest) AS latest_interval_end
FROM storage_latest_totals t
