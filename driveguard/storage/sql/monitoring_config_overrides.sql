-- Run-time overrides of the monitoring settings, one JSONB value per key (checked again on read).
SELECT key, value FROM monitoring_config
