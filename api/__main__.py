"""`python -m api`: serve the API with uvicorn on API_HOST:API_PORT, in API_WORKERS processes."""

from __future__ import annotations

import argparse
import copy
import logging
import sys

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from driveguard.config import ConfigError, get_settings
from driveguard.db.engine import resolve_database_url


class StripQueryStrings(logging.Filter):
    """Access-log lines keep method, path and status but never the query string: the OAuth callback
    carries Google's one-time `code` there, and no credential belongs in a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 3 and isinstance(record.args[2], str):
            args = list(record.args)
            args[2] = args[2].split("?", 1)[0]
            record.args = tuple(args)
        return True


def log_config() -> dict:
    """uvicorn's own logging setup with the query-string filter on the access log."""
    config = copy.deepcopy(LOGGING_CONFIG)
    # By import path, not the class: with API_WORKERS > 1 uvicorn's spawned workers unpickle this
    # config, and in them `__main__` is not this module (the class itself made every worker die).
    config.setdefault("filters", {})["strip_query"] = {"()": "api.__main__.StripQueryStrings"}
    config["handlers"]["access"]["filters"] = ["strip_query"]
    return config


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Only `--workers` (and `--help`): every other setting comes from the environment, like the other processes."""
    parser = argparse.ArgumentParser(
        prog="python -m api",
        description="Serve Driveguard's HTTP API (Litestar on uvicorn). Settings come from the environment "
        "and .env (see .env.example): DATABASE_URL, the Google client and the secrets are required; "
        "API_HOST, API_PORT and API_WORKERS say where and how many processes.",
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="worker processes (default: API_WORKERS, else 1)", metavar="N"
    )
    args = parser.parse_args(argv)
    if args.workers is not None and not 1 <= args.workers <= 64:
        parser.error("--workers must be between 1 and 64")
    return args


def main(argv: list[str] | None = None) -> int:
    """Serve, or exit 2 naming every bad setting (DATABASE_URL included) before anything starts:
    an operator reads a message, not a traceback from inside uvicorn's app factory."""
    args = parse_args(argv)
    try:
        settings = get_settings()
        resolve_database_url(settings)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=settings.server.host,
        port=settings.server.port,
        # Several processes share the listening socket; each builds its own app (and database pool).
        workers=args.workers or settings.server.workers,
        proxy_headers=False,  # the app believes X-Forwarded-* from TRUSTED_PROXIES only (api/security_headers.py)
        log_level="info",
        log_config=log_config(),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
