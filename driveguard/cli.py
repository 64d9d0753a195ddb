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
