-- Whether an account exists (a read's 404 before anything else is asked).
SELECT 1 FROM google_account WHERE id = :account_id
