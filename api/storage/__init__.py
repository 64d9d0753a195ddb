"""`/api/storage/*`: the storage overview and monitoring control (admin only)."""
