-- The budget's row exists before anyone locks it (a no-op once it does).
INSERT INTO google_rate_budget (name) VALUES (:name)
ON CONFLICT (name) DO NOTHING
