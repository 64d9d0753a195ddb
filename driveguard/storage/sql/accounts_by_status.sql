-- Google accounts per status.
SELECT status::text, count(*) FROM google_account GROUP BY 1
