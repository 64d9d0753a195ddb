"""`python -m launcher` (what `make run` calls): the whole product on this machine; Ctrl-C stops it."""

from __future__ import annotations

import sys

from driveguard.config import ConfigError
from launcher.supervisor import StartRefused, run


def main() -> int:
    try:
        return run()
    except (ConfigError, StartRefused) as exc:
        print(f"Driveguard cannot start: {exc}" if isinstance(exc, StartRefused) else exc, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
