-- How many accounts have no read model row yet (never collected), from the two pre-aggregates the
-- triggers keep (migration 0009): no scan. Zero lets the account list page its rows without a
-- sort key through the read model's indexes instead of looking for accounts it does not hold.
SELECT (SELECT coalesce(sum(accounts), 0) FROM account_status_totals)
     - (SELECT coalesce(sum(accounts), 0) FROM storage_latest_totals) AS uncollected
