-- Store an outbox target re-sealed under the newest key.
UPDATE notification_outbox SET target_ciphertext = :blob WHERE id = :owner
