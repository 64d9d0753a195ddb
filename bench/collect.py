"""Benchmark one `storage_collect` interval at Google's limit, through the real task code.

Seeds N accounts in the emulator (a subprocess, speaking Google's wire formats) with a per-call
latency and a project budget of B requests in any one second, stores their grants in a fresh
embedded PostgreSQL, then runs the interval's shards as the scheduler would: each shard's task
body (`pipelines.collect_shard`) in its own process, at most GOOGLE_API_POOL_SLOTS at once, a
shard with accounts still missing tried again (up to --tries). All shards book from the one
shared budget in PostgreSQL.

Prints wall time, the floor (Drive calls / budget), their ratio, 429s, the emulator's most
requests in any one second, and the peak RSS of a collect process:

    .venv/bin/python bench/collect.py --accounts 2000 --shards 4 --slots 4
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import json
import multiprocessing
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CLIENT_ID = "bench.apps.googleusercontent.com"
CLIENT_SECRET = "bench-secret"  # noqa: S105 - a local emulator's client
SCOPES = [
    "openid",
    "https://www.googleapis.com/auth/userinfo.email",
    "https://www.googleapis.com/auth/drive.metadata.readonly",
]
INTERVAL_START = dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_emulator(port: int) -> subprocess.Popen[bytes]:
    """`python -m emulator` on a free port, waited for until it answers."""
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [
            sys.executable,
            "-m",
            "emulator",
            "--port",
            str(port),
            "--seed",
            "none",
            "--client-id",
            CLIENT_ID,
            "--client-secret",
            CLIENT_SECRET,
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_emulator/stats", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the emulator did not start within 30 s")


def settings_env(database_url: str, emulator_url: str, args: argparse.Namespace, key: str) -> dict[str, str]:
    per_shard = -(-args.accounts // args.shards)
    return {
        "DRIVEGUARD_ENV": "test",
        "DRIVEGUARD_ENV_FILE": os.devnull,
        "DATABASE_URL": database_url,
        "GOOGLE_CLIENT_ID": CLIENT_ID,
        "GOOGLE_CLIENT_SECRET": CLIENT_SECRET,
        "GOOGLE_REDIRECT_URI": "http://127.0.0.1:8000/auth/callback",
        "GOOGLE_EMULATOR_URL": emulator_url,
        "DRIVEGUARD_ENCRYPTION_KEYS": key,
        "DRIVEGUARD_SECRET_KEY": "bench-secret-key-0123456789abcdef0123456789",
        "SESSION_COOKIE_SECURE": "false",
        "GOOGLE_RATE_LIMIT_PER_MINUTE": str(args.budget * 60),
        "GOOGLE_API_POOL_SLOTS": str(args.slots),
        "COLLECT_SHARD_SIZE": str(per_shard),
        "GOOGLE_BATCH_SIZE": str(args.batch_size),
    }


def seed(env: dict[str, str], emulator_url: str, n: int) -> None:
    """Accounts at the emulator, their grants stored in Driveguard through the token service."""
    from driveguard.config import load_settings
    from driveguard.db.engine import make_engine, transaction
    from driveguard.db.migrate import upgrade
    from driveguard.google.oauth import GoogleIdentity, TokenResponse
    from driveguard.identity.tokens import TokenService

    settings = load_settings(env, env_file=os.devnull)
    engine = make_engine(env["DATABASE_URL"], pool_size=2)
    upgrade(engine)
    admin = httpx.Client(base_url=emulator_url + "/_emulator", timeout=120)
    emails = [f"b{i:06d}@example.com" for i in range(n)]
    service = TokenService(settings, engine)
    try:
        for start in range(0, n, 1000):
            chunk = emails[start : start + 1000]
            accounts = [{"email": e, "name": e, "usage": 10**6 + i, "limit": 15 * 1024**3} for i, e in enumerate(chunk)]
            admin.post("/accounts", json={"accounts": accounts}).raise_for_status()
            grants = admin.post(
                "/grants", json={"emails": chunk, "client_id": CLIENT_ID, "scopes": SCOPES, "offline": True}
            )
            grants.raise_for_status()
            with transaction(engine) as db:
                for grant in grants.json()["grants"]:
                    service.store_grant(
                        db,
                        identity=GoogleIdentity(sub="sub-" + grant["email"], email=grant["email"], email_verified=True),
                        tokens=TokenResponse(
                            access_token=grant["access_token"],
                            expires_in=3599,
                            scopes=tuple(grant["scope"].split()),
                            refresh_token=grant["refresh_token"],
                        ),
                    )
    finally:
        service.close()
        admin.close()
        engine.dispose()


def collect_one_shard(env: dict[str, str], shard: dict[str, Any]) -> dict[str, Any]:
    """One collect task body in its own process, as the scheduler runs it."""
    from driveguard import pipelines
    from driveguard.config import load_settings
    from driveguard.db.engine import make_engine

    settings = load_settings(env, env_file=os.devnull)
    engine = make_engine(env["DATABASE_URL"], pool_size=2)
    started = time.perf_counter()
    try:
        counts = pipelines.collect_shard(pipelines.Runtime(settings, engine), shard)
    finally:
        engine.dispose()
    counts["task_seconds"] = time.perf_counter() - started
    counts["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return counts


def run(args: argparse.Namespace) -> dict[str, Any]:
    from driveguard.config import generate_encryption_key
    from driveguard.db.engine import make_engine
    from driveguard.storage.collection import plan_collection
    from driveguard.storage.interval import Interval
    from launcher import embedded

    workdir = Path(tempfile.mkdtemp(prefix="dg-bench-"))
    data_dir = workdir / "pg"
    port = free_port()
    emulator_url = f"http://127.0.0.1:{port}"
    emulator = start_emulator(port)
    try:
        url = embedded.start(data_dir)
        env = settings_env(url, emulator_url, args, generate_encryption_key("k1"))
        seed(env, emulator_url, args.accounts)
        admin = httpx.Client(base_url=emulator_url + "/_emulator", timeout=60)
        fault: dict[str, Any] = {"group": "about", "latency_ms": args.latency_ms, "rate_budget_per_second": args.budget}
        if args.error_rate:
            fault.update(error_rate=args.error_rate, error_rate_status=503, seed=7)
        admin.post("/faults", json=[fault]).raise_for_status()
        admin.post("/stats/reset").raise_for_status()

        engine = make_engine(url, pool_size=2)
        interval = Interval(INTERVAL_START, INTERVAL_START + dt.timedelta(hours=1))
        plan = plan_collection(engine, interval, every_hours=1, shard_size=int(env["COLLECT_SHARD_SIZE"]))
        shards = plan["shards"]
        context = multiprocessing.get_context("spawn")
        started = time.perf_counter()
        results: list[dict[str, Any]] = []
        pending = list(shards)
        tries = 0
        with concurrent.futures.ProcessPoolExecutor(max_workers=args.slots, mp_context=context) as pool:
            while pending and tries < args.tries:
                tries += 1
                futures = {pool.submit(collect_one_shard, env, shard): shard for shard in pending}
                pending = []
                for future in concurrent.futures.as_completed(futures):
                    counts = future.result()
                    results.append(counts)
                    if counts.get("failed_transient"):
                        pending.append(futures[future])  # Airflow would retry this try's shard
        wall = time.perf_counter() - started
        with engine.connect() as conn:
            from sqlalchemy import text

            stored = conn.execute(
                text("SELECT count(*) FROM storage_snapshot WHERE interval_start = :s"), {"s": INTERVAL_START}
            ).scalar_one()
        engine.dispose()
        stats = admin.get("/stats").json()
        admin.close()
    finally:
        emulator.terminate()
        emulator.wait(10)
        embedded.stop(data_dir)

    about = stats["statuses"].get("about", {})
    drive_calls = sum(about.values())
    floor = drive_calls / args.budget
    return {
        "accounts": args.accounts,
        "shards": len(shards),
        "slots": args.slots,
        "batch_size": args.batch_size,
        "budget_rps": args.budget,
        "latency_ms": args.latency_ms,
        "tries": tries,
        "snapshots": stored,
        "lost": args.accounts - stored,
        "wall_seconds": round(wall, 2),
        "drive_calls": drive_calls,
        "floor_seconds": round(floor, 2),
        "ratio_to_floor": round(wall / floor, 3) if floor else None,
        "http_429": about.get("429", 0),
        "max_rps": stats.get("max_1s_window", {}).get("about", 0),
        "task_seconds_max": round(max(r["task_seconds"] for r in results), 2) if results else None,
        "limiter_wait_s_max": round(max(r.get("limiter_wait_seconds", 0) for r in results), 2) if results else None,
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in results), 1) if results else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--budget", type=int, default=50, help="requests per second at the emulator and ours")
    parser.add_argument("--latency-ms", type=float, default=80)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--slots", type=int, default=4, help="GOOGLE_API_POOL_SLOTS: shards run at once")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--tries", type=int, default=3)
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of parts answered 503")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.accounts < 1 or args.budget < 1 or args.shards < 1 or args.slots < 1:
        parser.error("--accounts, --budget, --shards and --slots must be at least 1")
    figures = run(args)
    for name, value in figures.items():
        print(f"{name:>16}: {value}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"collect": figures}, indent=2) + "\n")
    return 0 if figures["lost"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
