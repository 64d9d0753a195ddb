-- Serialise changes to one account's preferences (two tabs saving at once): lock the account row.
SELECT id FROM google_account WHERE id = :account_id FOR UPDATE
