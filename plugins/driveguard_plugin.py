"""Airflow UI side of Driveguard: links from Airflow's navigation (and each DAG) to Driveguard."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin


def _public_url() -> str:
    """The API's public URL from Driveguard's settings; a safe default keeps the UI up if they are incomplete."""
    from driveguard.config import ConfigError, get_settings

    try:
        return get_settings().server.public_url
    except ConfigError:
        return "http://127.0.0.1:8000"


class DriveguardPlugin(AirflowPlugin):
    name = "driveguard"
    base = _public_url()
    external_views = [
        {"name": "Driveguard API", "href": f"{base}/api/docs", "destination": "nav", "category": "Driveguard"},
        {"name": "Driveguard health", "href": f"{base}/api/health", "destination": "nav", "category": "Driveguard"},
        {"name": "Storage overview", "href": f"{base}/api/storage/overview", "destination": "dag"},
    ]
