-- The leaf partitions of one series' subtree (:parent, e.g. storage_snapshot_raw), oldest first,
-- with the [range_start, range_end) of interval_start each holds, read from the catalog (a leaf an
-- operator attached with MINVALUE/MAXVALUE bounds is not retention's to drop, and is left out).
SELECT c.relname AS name,
       CAST(bounds[1] AS timestamptz) AS range_start,
       CAST(bounds[2] AS timestamptz) AS range_end
FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
CROSS JOIN LATERAL regexp_match(
    pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']+)''\) TO \(''([^'']+)''\)'
) AS bounds
WHERE i.inhparent = CAST(CAST(:parent AS text) AS regclass)
  AND bounds IS NOT NULL
ORDER BY range_start
