"""Google's HTTP APIs as Driveguard uses them; every endpoint comes from settings."""
