"""`python -m emulator`: run the Google emulator with uvicorn.

Command-line flags win over environment variables (EMULATOR_HOST, EMULATOR_PORT,
GOOGLE_CLIENT_ID, GOOGLE_CLIENT_SECRET, GOOGLE_REDIRECT_URI (comma-separated allowed),
EMULATOR_ISSUER, EMULATOR_ADMIN_TOKEN), which win over the built-in demo defaults.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_REDIRECT_URIS, EmulatorConfig
from .models import Client
from .seed import SEEDS


def build_parser(env: dict[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m emulator", description="Local Google emulator for Driveguard.")
    parser.add_argument("--host", default=env.get("EMULATOR_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env.get("EMULATOR_PORT", "8090")))
    parser.add_argument("--seed", choices=SEEDS, default=env.get("EMULATOR_SEED", "demo"))
    parser.add_argument("--client-id", default=env.get("GOOGLE_CLIENT_ID", DEFAULT_CLIENT_ID))
    parser.add_argument("--client-secret", default=env.get("GOOGLE_CLIENT_SECRET", DEFAULT_CLIENT_SECRET))
    parser.add_argument(
        "--redirect-uri",
        action="append",
        dest="redirect_uris",
        help="an exact registered redirect URI (repeatable)",
    )
    parser.add_argument("--issuer", default=env.get("EMULATOR_ISSUER"), help="fixed id_token issuer")
    parser.add_argument("--log-level", default=env.get("EMULATOR_LOG_LEVEL", "info"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    env = dict(os.environ)
    args = build_parser(env).parse_args(argv)
    redirect_uris = args.redirect_uris
    if not redirect_uris:
        from_env = [u.strip() for u in env.get("GOOGLE_REDIRECT_URI", "").split(",") if u.strip()]
        redirect_uris = from_env or list(DEFAULT_REDIRECT_URIS)
    config = EmulatorConfig(issuer=args.issuer, admin_token=env.get("EMULATOR_ADMIN_TOKEN") or None)

    import uvicorn

    from .app import create_app
    from .state import EmulatorState

    state = EmulatorState(config, seed=args.seed, clients=[Client(args.client_id, args.client_secret, redirect_uris)])
    print(
        f"Google emulator on http://{args.host}:{args.port} (seed={args.seed}, client_id={args.client_id}, "
        f"redirect_uris={', '.join(redirect_uris)})",
        file=sys.stderr,
    )
    uvicorn.run(create_app(state), host=args.host, port=args.port, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
