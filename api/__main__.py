"""`python -m api`: serve the API with uvicorn on API_HOST:API_PORT."""

from __future__ import annotations

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
    config.setdefault("filters", {})["strip_query"] = {"()": StripQueryStrings}
    config["handlers"]["access"]["filters"] = ["strip_query"]
    return config


def main() -> int:
    """Serve, or exit 2 naming every bad setting (DATABASE_URL included) before anything starts:
    an operator reads a message, not a traceback from inside uvicorn's app factory."""
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
        proxy_headers=False,  # the app believes X-Forwarded-* from TRUSTED_PROXIES only (api/security_headers.py)
        log_level="info",
        log_config=log_config(),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
