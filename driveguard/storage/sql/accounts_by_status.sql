-- Google accounts per status, from the pre-aggregate the triggers on google_account keep
-- (migration 0009); statuses without accounts are left out.
SELECT status::text, sum(accounts) FROM account_status_totals GROUP BY 1 HAVING sum(accounts) > 0
