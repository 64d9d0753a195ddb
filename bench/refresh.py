"""Benchmark one `token_refresh` pass over N due accounts, through the real task code.

Seeds N accounts whose access tokens Driveguard believes expire in 5 minutes (so all are due
before the next run), gives the emulator's token endpoint a latency, then runs the pass as the
scheduler does: the plan (`pipelines.refresh_plan`), then each shard's `pipelines.refresh_shard`
in a fresh process of its own, at most GOOGLE_API_POOL_SLOTS at once.

Prints wall time, the floor (N refreshes x latency / refreshes in flight, i.e. shards running
at once x TOKEN_REFRESH_THREADS), their ratio, and the refreshes the emulator saw per account:
exactly one each is asserted (a second refresh would waste a call and rotate tokens for nothing).

    .venv/bin/python bench/refresh.py --accounts 2000 --latency-ms 100
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import new_key, run_tasks, running, seed, settings_env

PERIOD = dt.timedelta(minutes=10)  # dags/token_refresh.py's schedule


def refresh_body(rt: Any, shard: dict[str, Any]) -> dict[str, Any]:
    """The `refresh` task's body (dags/token_refresh.py)."""
    from driveguard import pipelines

    return dict(pipelines.refresh_shard(rt, shard))


def run(args: argparse.Namespace) -> dict[str, Any]:
    from driveguard import pipelines
    from driveguard.config import load_settings
    from driveguard.db.engine import make_engine

    with running() as bench:
        overrides = {
            "GOOGLE_API_POOL_SLOTS": str(args.slots),
            "TOKEN_REFRESH_THREADS": str(args.threads),
            "TOKEN_REFRESH_SHARD_SIZE": str(args.shard_size),
        }
        env = settings_env(bench, new_key(), **overrides)
        emails = seed(bench, env, args.accounts, expires_in=300)
        bench.set_faults([{"group": "token", "latency_ms": args.latency_ms}])
        bench.reset_stats()
        engine = make_engine(env["DATABASE_URL"], pool_size=2)
        try:
            shards = pipelines.refresh_plan(
                pipelines.Runtime(load_settings(env, env_file="/dev/null"), engine), period=PERIOD
            )["shards"]
        finally:
            engine.dispose()
        tasks = run_tasks(env, refresh_body, shards, slots=args.slots)
        stats = bench.stats()
    per_account = Counter(stats.get("refresh_by_account", {}))
    times = Counter(per_account[e] for e in emails)  # how many accounts were refreshed 0, 1, 2... times
    counts: Counter[str] = Counter()
    for result in tasks.results:
        counts.update({k: v for k, v in result.items() if k in ("accounts", "refreshed", "skipped", "failed")})
    in_flight = min(len(shards), args.slots) * args.threads
    floor = args.accounts * args.latency_ms / 1000 / in_flight
    return {
        "accounts": args.accounts,
        "shards": len(shards),
        "slots": args.slots,
        "threads": args.threads,
        "latency_ms": args.latency_ms,
        "refreshed": counts["refreshed"],
        "failed": counts["failed"],
        "wall_seconds": round(tasks.wall_seconds, 2),
        "floor_seconds": round(floor, 2),
        "ratio_to_floor": round(tasks.wall_seconds / floor, 3) if floor else None,
        "refreshes_at_emulator": sum(per_account.values()),
        "accounts_refreshed_once": times[1],
        "accounts_refreshed_more_than_once": sum(n for k, n in times.items() if k > 1),
        "accounts_not_refreshed": times[0],
        "exactly_one_refresh_per_account": times[1] == args.accounts,
        "peak_rss_mb": round(max((r["peak_rss_mb"] for r in tasks.results), default=0), 1),
    }


def main_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--accounts", type=int, default=2000)
    p.add_argument("--latency-ms", type=float, default=100, help="the token endpoint's latency")
    p.add_argument("--slots", type=int, default=4, help="GOOGLE_API_POOL_SLOTS")
    p.add_argument("--threads", type=int, default=4, help="TOKEN_REFRESH_THREADS")
    p.add_argument("--shard-size", type=int, default=500, help="TOKEN_REFRESH_SHARD_SIZE")
    p.add_argument("--json", type=Path, help="also write the figures here")
    return p


def main(argv: list[str] | None = None) -> int:
    p = main_parser()
    args = p.parse_args(argv)
    if min(args.accounts, args.slots, args.threads, args.shard_size) < 1:
        p.error("--accounts, --slots, --threads and --shard-size must be at least 1")
    figures = run(args)
    for name, value in figures.items():
        print(f"{name:>34}: {value}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    if not figures["exactly_one_refresh_per_account"]:
        print("FAILED: every due account must be refreshed exactly once at the emulator", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
