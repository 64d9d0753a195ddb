-- The sealed run-time apprise targets, locked for re-sealing.
SELECT value FROM monitoring_config WHERE key = 'apprise_urls' FOR UPDATE
