"""Litestar HTTP API: thin controllers over the driveguard services."""
