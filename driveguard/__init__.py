"""Driveguard core: the domain logic shared by the HTTP API and the Airflow DAGs.

Nothing in this package imports Litestar or Airflow; both are thin doors into these services.
"""

__version__ = "0.1.0"
