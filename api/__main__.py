"""`python -m api`: serve the API with uvicorn on API_HOST:API_PORT."""

from __future__ import annotations

import uvicorn

from driveguard.config import get_settings


def main() -> None:
    settings = get_settings()
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=settings.server.host,
        port=settings.server.port,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        log_level="info",
    )


if __name__ == "__main__":
    main()
