-- Store one validated monitoring setting (a JSON text cast to JSONB), replacing an older value.
INSERT INTO monitoring_config (key, value, updated_at, updated_by)
VALUES (:key, CAST(:value AS jsonb), now(), :by)
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now(), updated_by = EXCLUDED.updated_by
