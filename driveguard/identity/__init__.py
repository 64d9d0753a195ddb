"""Sign-in and what keeps it alive: OAuth login, sessions, the token service, the vault, admin access."""
