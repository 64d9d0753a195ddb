"""The local launcher behind `make run`: a process supervisor, embedded PostgreSQL, Airflow's environment.

A development and demo tool outside the core: production processes never import it, so they never
start an embedded database.
"""
