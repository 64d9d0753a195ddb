"""The operator's command line: `python -m driveguard.cli <command>`.

Each command is a small function registered in COMMANDS; the heavy imports happen inside it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from driveguard.config import ConfigError

COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {}


def command(name: str, help_text: str, configure: Callable[[argparse.ArgumentParser], None] = lambda _: None):
    def register(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        COMMANDS[name] = (help_text, configure, func)
        return func

    return register


def _db_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("revision", nargs="?", default=None, help="target revision")


@command("db-upgrade", "apply migrations up to a revision (default: head)", _db_args)
def db_upgrade(args: argparse.Namespace) -> int:
    from driveguard.config import get_settings
    from driveguard.db import migrate
    from driveguard.db.engine import get_engine

    migrate.upgrade(get_engine(get_settings()), args.revision or "head")
    return 0


@command("db-downgrade", "revert migrations down to a revision (e.g. -1 or base)", _db_args)
def db_downgrade(args: argparse.Namespace) -> int:
    from driveguard.config import get_settings
    from driveguard.db import migrate
    from driveguard.db.engine import get_engine

    migrate.downgrade(get_engine(get_settings()), args.revision or "-1")
    return 0


def _reencrypt_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--batch-size", type=int, default=200, help="accounts per transaction (default 200)")


@command(
    "reencrypt-tokens",
    "re-encrypt every stored Google token under the newest DRIVEGUARD_ENCRYPTION_KEYS key (idempotent)",
    _reencrypt_args,
)
def reencrypt_tokens(args: argparse.Namespace) -> int:
    from driveguard import audit
    from driveguard.config import get_settings
    from driveguard.db.engine import get_engine, transaction
    from driveguard.identity.vault import Vault, reencrypt_all

    if args.batch_size < 1:
        print("--batch-size must be at least 1", file=sys.stderr)
        return 2
    settings = get_settings()
    engine = get_engine(settings)
    report = reencrypt_all(engine, Vault(settings.security.encryption_keys), batch_size=args.batch_size)
    with transaction(engine) as db:
        audit.record(
            db,
            action=audit.Action.TOKENS_REENCRYPTED,
            actor="cli",
            details={
                "examined": report.examined,
                "reencrypted": report.reencrypted,
                "failed": report.failed,
                "newest_key_id": report.newest_key_id,
            },
        )
    print(
        f"re-encrypted {report.reencrypted} of {report.examined} accounts under key {report.newest_key_id!r}"
        f"; {report.failed} could not be decrypted"
    )
    return 1 if report.failed else 0


def _hash_password_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", help="admin user name; prints a ready DRIVEGUARD_ADMIN_USERS entry")
    parser.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")


@command(
    "hash-password",
    "hash an admin password for DRIVEGUARD_ADMIN_USERS (never put plaintext there)",
    _hash_password_args,
)
def hash_password_command(args: argparse.Namespace) -> int:
    import getpass

    from driveguard.identity.passwords import hash_password

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("the passwords differ", file=sys.stderr)
            return 2
    if len(password) < 12:
        print("use a password of at least 12 characters", file=sys.stderr)
        return 2
    encoded = hash_password(password)
    print(f"{args.name}:{encoded}" if args.name else encoded)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="driveguard", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, configure, _) in sorted(COMMANDS.items()):
        configure(sub.add_parser(name, help=help_text))
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command][2](args)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
