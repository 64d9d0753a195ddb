"""Benchmark one `storage_collect` interval at Google's limit, through the real task code.

Seeds N accounts in the emulator (a subprocess speaking Google's wire formats) with a per-batch
latency and a project budget of B requests in any one second (Google's way: a one-second burst,
429 above it), stores their grants in a fresh embedded PostgreSQL, and sets the product's own
budget to the same. Then:

1. the naive loop: one `about.get` per account, one after the other, on a sample of accounts,
   which gives the naive rate and the best speed-up the budget allows (budget / naive rate);
2. one interval through the task bodies as the scheduler runs them: the plan
   (`pipelines.collect_plan`), then each shard's `pipelines.collect_shard` in a fresh process of
   its own, at most GOOGLE_API_POOL_SLOTS at once, a try that left transient gaps tried again.

It prints wall time (from the first task handed out to the last one done, process start-up
included), the floor (Drive calls / budget), their ratio, 429s, the emulator's most requests in
any one second, the peak RSS of a collect task process, the speed-up over the naive loop and
its ceiling. `--faults` adds 5 % 503s, scripted 401s (access tokens Google expired early for 1 %
of the accounts) and scripted 429s (another client of the project spending the budget in bursts).

    .venv/bin/python bench/collect.py                       # 10,000 accounts, product defaults
    .venv/bin/python bench/collect.py --accounts 2000 --shards 1 --batch-size 25
    .venv/bin/python bench/collect.py --accounts 2000 --faults --json out.json
    .venv/bin/python bench/collect.py --accounts 1000 --scenario default --scenario shards=16 --scenario faults
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime as dt
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._harness import Bench, new_key, run_tasks, running, seed, settings_env

INTERVAL_START = dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC)
PRODUCT_SHARD_SIZE = 1000  # COLLECT_SHARD_SIZE's default
PRODUCT_SLOTS = 4  # GOOGLE_API_POOL_SLOTS' default
PRODUCT_BATCH_SIZE = 100  # GOOGLE_BATCH_SIZE's default


def collect_body(rt: Any, shard: dict[str, Any]) -> dict[str, Any]:
    """The `collect` task's body (dags/storage_collect.py) minus Airflow's context."""
    from driveguard import pipelines

    return pipelines.collect_shard(rt, shard)


def has_gaps(counts: dict[str, Any]) -> bool:
    from driveguard.storage.collection import transient_gaps

    return transient_gaps(counts) > 0


def naive_loop(bench: Bench, env: dict[str, str], tokens: list[str]) -> dict[str, float]:
    """One `about.get` per account, one after the other, through the same client library."""
    import google_auth_httplib2
    import httplib2

    from driveguard.config import load_settings
    from driveguard.google.drive import ABOUT_FIELDS, AccessTokenCredentials, drive_service

    settings = load_settings(env, env_file="/dev/null")
    transport = httplib2.Http(timeout=30)
    service = drive_service(settings, transport)
    started = time.perf_counter()
    ok = 0
    for token in tokens:
        http = google_auth_httplib2.AuthorizedHttp(AccessTokenCredentials(token), http=transport)
        response = service.about().get(fields=ABOUT_FIELDS).execute(http=http)
        ok += "storageQuota" in response
    seconds = time.perf_counter() - started
    if ok != len(tokens):
        raise SystemExit(f"the naive loop got {ok} of {len(tokens)} quotas")
    return {"accounts": len(tokens), "seconds": round(seconds, 2), "rate_per_s": round(len(tokens) / seconds, 2)}


class Intruder:
    """Another client of the same Google project spending the budget in bursts (scripted 429s): each
    burst sends half a second's budget of single `about` calls at once, on top of Driveguard's sends.
    Its calls count in the floor (they used the budget) and in `max_rps` (the emulator counts every
    arrival, so with faults `max_rps` is not Driveguard's alone)."""

    def __init__(self, bench: Bench, tokens: list[str], burst: int, every_s: float) -> None:
        self.bench, self.tokens, self.burst, self.every_s = bench, tokens, burst, every_s
        self.stop = threading.Event()
        self.bursts = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _one(self, token: str) -> int:
        import httpx

        url = self.bench.emulator_url + "/drive/v3/about"
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.get(url, params={"fields": "storageQuota"}, headers=headers).status_code

    def _run(self) -> None:
        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
            while not self.stop.wait(self.every_s):
                start = (self.bursts * self.burst) % max(1, len(self.tokens) - self.burst)
                list(pool.map(self._one, self.tokens[start : start + self.burst]))
                self.bursts += 1

    def __enter__(self) -> Intruder:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def collect_interval(
    bench: Bench, env: dict[str, str], args: argparse.Namespace, start: dt.datetime, tokens: dict[str, str]
) -> dict[str, Any]:
    """One interval's plan and shards, then what the emulator saw and what was stored."""
    from sqlalchemy import text

    from driveguard import pipelines
    from driveguard.config import load_settings
    from driveguard.db.engine import make_engine
    from driveguard.storage.interval import Interval

    about: dict[str, Any] = {"group": "about", "latency_ms": args.latency_ms, "rate_budget_per_second": args.budget}
    scripted_401 = 0
    if args.faults:
        about.update(error_rate=0.05, error_rate_status=503, seed=7)
    bench.set_faults([about])
    if args.faults:  # Google expires these tokens early: Driveguard still believes them valid
        emails = sorted(tokens)[:: max(1, 100)]
        with bench.admin() as admin:
            for email in emails:
                scripted_401 += admin.post("/tokens/expire", json={"email": email}).json()["expired"]
    bench.reset_stats()
    engine = make_engine(env["DATABASE_URL"], pool_size=2)
    try:
        rt = pipelines.Runtime(load_settings(env, env_file="/dev/null"), engine)
        interval = Interval(start, start + dt.timedelta(hours=1))
        shards = pipelines.collect_plan(rt, interval)["shards"]
        intruder = Intruder(
            bench, list(tokens.values())[-max(2, args.budget * 2) :], max(1, args.budget // 2), args.intruder_every
        )
        with intruder if args.faults else contextlib.nullcontext():
            tasks = run_tasks(env, collect_body, shards, slots=args.slots, tries=args.tries, failed=has_gaps)
        results, wall = tasks.results, tasks.wall_seconds
        with engine.connect() as conn:
            stored = conn.execute(
                text("SELECT count(*) FROM storage_snapshot WHERE interval_start = :s"), {"s": start}
            ).scalar_one()
    finally:
        engine.dispose()
    stats = bench.stats()
    statuses = stats["statuses"].get("about", {})
    drive_calls = sum(statuses.values())
    floor = drive_calls / args.budget
    figures: dict[str, Any] = {
        "accounts": args.accounts,
        "shards": len(shards),
        "slots": args.slots,
        "batch_size": args.batch_size,
        "budget_rps": args.budget,
        "latency_ms": args.latency_ms,
        "faults": bool(args.faults),
        "max_try": tasks.max_try,
        "snapshots": stored,
        "lost": args.accounts - stored,
        "wall_seconds": round(wall, 2),
        "drive_calls": drive_calls,
        "floor_seconds": round(floor, 2),
        "ratio_to_floor": round(wall / floor, 3) if floor else None,
        "http_429": int(statuses.get("429", 0)),
        "http_429_share": round(int(statuses.get("429", 0)) / drive_calls, 4) if drive_calls else 0.0,
        "max_rps": stats.get("max_1s_window", {}).get("about", 0),
        "warm_up_seconds": round(tasks.warm_up_seconds, 2),
        "task_seconds_max": round(max(r["task_seconds"] for r in results), 2),
        "limiter_wait_s_max": round(max(r.get("limiter_wait_seconds", 0) for r in results), 2),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in results), 1),
        "late_rebookings": sum(r.get("late_rebookings", 0) for r in results),
    }
    if args.verbose:
        for r in sorted(results, key=lambda r: r["task_started_s"]):
            print(
                f"shard {r.get('shard')}: {r['task_started_s']:.2f}..{r['task_ended_s']:.2f} s, "
                f"{r.get('collected', 0)} collected, {r.get('batches', 0)} batches, "
                f"waited {r.get('limiter_wait_seconds', 0)} s, backoff {r.get('backoff_seconds', 0)} s, "
                f"{r.get('late_rebookings', 0)} late rebookings"
            )
    if args.faults:
        figures.update(
            http_503=int(statuses.get("503", 0)),
            http_401=int(statuses.get("401", 0)),
            scripted_401_tokens=scripted_401,
            intruder_bursts=intruder.bursts,
            forced_refreshes=sum(stats.get("refresh_by_account", {}).values()),
        )
    return figures


def scenario_args(args: argparse.Namespace, scenario: str) -> argparse.Namespace:
    """`default` (the options as given), `shards=N`, `batch=N`, `slots=N` or `faults` over them."""
    out = argparse.Namespace(**vars(args))
    out.scenario = scenario
    if scenario == "faults":
        out.faults = True
    elif scenario != "default":
        name, _, value = scenario.partition("=")
        if name not in ("shards", "batch", "slots") or not value.isdigit() or int(value) < 1:
            raise SystemExit(f"unknown scenario {scenario!r}: default, faults, shards=N, batch=N or slots=N")
        setattr(out, {"batch": "batch_size"}.get(name, name), int(value))
    return out


def scenario_env(bench: Bench, key: str, args: argparse.Namespace) -> dict[str, str]:
    shard_size = -(-args.accounts // args.shards) if args.shards else PRODUCT_SHARD_SIZE
    overrides = {
        "GOOGLE_RATE_LIMIT_PER_MINUTE": str(args.budget * 60),
        "GOOGLE_API_POOL_SLOTS": str(args.slots),
        "GOOGLE_BATCH_SIZE": str(args.batch_size),
        "COLLECT_SHARD_SIZE": str(shard_size),
    }
    return settings_env(bench, key, **overrides)


def run(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Seed once, the naive loop once, then one interval (an hour of its own) per scenario, in order
    (`faults` last: it expires tokens and leaves the shared rate throttled)."""
    scenarios = args.scenario or ["default"]
    out: dict[str, dict[str, Any]] = {}
    with running() as bench:
        key = new_key()
        env = scenario_env(bench, key, args)
        seeded = time.perf_counter()
        tokens = seed(bench, env, args.accounts)
        seed_seconds = time.perf_counter() - seeded
        bench.set_faults([{"group": "about", "latency_ms": args.latency_ms, "rate_budget_per_second": args.budget}])
        naive = naive_loop(bench, env, list(tokens.values())[: min(args.naive_sample, args.accounts)])
        for i, scenario in enumerate(sorted(scenarios, key=lambda s: s == "faults")):
            this = scenario_args(args, scenario)
            start = INTERVAL_START + dt.timedelta(hours=i)
            figures = {
                "scenario": scenario,
                **collect_interval(bench, scenario_env(bench, key, this), this, start, tokens),
            }
            rate = figures["snapshots"] / figures["wall_seconds"]
            figures.update(
                seed_seconds=round(seed_seconds, 1),
                naive_accounts=naive["accounts"],
                naive_rate_per_s=naive["rate_per_s"],
                speedup_vs_naive=round(rate / naive["rate_per_s"], 2),
                speedup_ceiling=round(args.budget / naive["rate_per_s"], 2),
            )
            figures["speedup_share_of_ceiling"] = round(figures["speedup_vs_naive"] / figures["speedup_ceiling"], 3)
            out[scenario] = figures
            print_figures(figures)
    return out


def print_figures(figures: dict[str, Any]) -> None:
    for name, value in figures.items():
        print(f"{name:>28}: {value}")
    print(flush=True)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--accounts", type=int, default=10_000)
    p.add_argument("--budget", type=int, default=50, help="requests per second, at the emulator and ours")
    p.add_argument("--latency-ms", type=float, default=80, help="per batch (its parts are served concurrently)")
    p.add_argument("--shards", type=int, default=0, help="0: COLLECT_SHARD_SIZE's default (1000 accounts a shard)")
    p.add_argument("--slots", type=int, default=PRODUCT_SLOTS, help="GOOGLE_API_POOL_SLOTS: tasks at once")
    p.add_argument("--batch-size", type=int, default=PRODUCT_BATCH_SIZE, help="GOOGLE_BATCH_SIZE")
    p.add_argument("--tries", type=int, default=4, help="tries of a shard (the collect task has retries=3)")
    p.add_argument("--naive-sample", type=int, default=100, help="accounts the naive loop fetches")
    p.add_argument("--faults", action="store_true", help="5 %% 503s, scripted 401s and 429s")
    p.add_argument("--intruder-every", type=float, default=15.0, help="seconds between bursts (--faults)")
    p.add_argument(
        "--scenario",
        action="append",
        help="default | shards=N | batch=N | slots=N | faults (repeatable: one seeding, an interval each)",
    )
    p.add_argument("--verbose", action="store_true", help="print each task's span")
    p.add_argument("--json", type=Path, help="also write the figures here")
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    if min(args.accounts, args.budget, args.slots, args.tries, args.naive_sample) < 1 or args.shards < 0:
        p.error("--accounts, --budget, --slots, --tries and --naive-sample must be at least 1")
    results = run(args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0 if all(f["lost"] == 0 for f in results.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
