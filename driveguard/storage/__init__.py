"""Storage monitoring: intervals, collection, backfill, quality gate, alerts, notifications, read model, retention."""
