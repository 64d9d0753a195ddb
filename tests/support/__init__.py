"""Shared test support: real servers on loopback, database provisioning, a controllable clock."""
