UPDATE google_rate_budget
SET multiplier = :multiplier,
    last_throttle_at = :last_throttle_at,
    sent_at = CAST(:sent_at AS double precision[]),
    sent_parts = CAST(:sent_parts AS integer[]),
    updated_at = now()
WHERE name = :name
