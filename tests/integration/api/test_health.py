"""`GET /api/health` over real HTTP against a real database."""

from __future__ import annotations

import dataclasses

import httpx
from sqlalchemy import Engine
from support.servers import serve_asgi

from api.app import create_app
from driveguard.config import Settings
from driveguard.db.engine import make_engine


def test_anonymous_health_says_up_and_what_works_but_no_details(settings: Settings, engine: Engine):
    with serve_asgi(create_app(settings, engine)) as base_url:
        response = httpx.get(f"{base_url}/api/health", timeout=10)

    assert response.status_code == 200
    # Airflow and Google point at a closed port in this test: the database is up, neither of the
    # two things it serves works, and nothing else (versions, URLs, error text) is shown.
    assert response.json() == {"status": "up", "signin": "down", "pipelines": "down"}


def test_health_is_503_when_the_database_is_unusable(settings: Settings):
    broken = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", pool_size=1)
    app = create_app(dataclasses.replace(settings), broken)
    with serve_asgi(app) as base_url:
        response = httpx.get(f"{base_url}/api/health", timeout=20)
    assert response.status_code == 503
    assert response.json() == {"status": "down", "signin": "down", "pipelines": "down"}


def test_unknown_route_is_a_json_problem(settings: Settings, engine: Engine):
    with serve_asgi(create_app(settings, engine)) as base_url:
        response = httpx.get(f"{base_url}/api/nope", timeout=10)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 404
