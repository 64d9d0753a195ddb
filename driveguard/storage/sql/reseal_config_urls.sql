-- Store the run-time apprise targets re-sealed under the newest key (a JSON text cast to JSONB).
UPDATE monitoring_config SET value = CAST(:value AS jsonb) WHERE key = 'apprise_urls'
