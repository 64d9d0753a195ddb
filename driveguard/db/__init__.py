"""Database access: models, engines and sessions, the embedded server and migrations."""
