-- GDPR erasure: audit rows about an erased account keep what happened and when, not who.
UPDATE audit_log
SET subject = CASE WHEN lower(subject) = lower(:email) THEN '[erased]' ELSE subject END,
    actor = CASE WHEN lower(actor) = lower(:email) THEN '[erased]' ELSE actor END,
    actor_account_id = NULL,
    details = (details - 'account_id' - 'email') || jsonb_build_object('erased', true),
    ip_address = NULL,
    user_agent = NULL
WHERE actor_account_id = :account_id
   OR lower(subject) = lower(:email)
   OR lower(actor) = lower(:email)
   OR details ->> 'account_id' = CAST(:account_id AS text)
RETURNING id
