"""`make bench`: both benchmarks at sizes that finish within ~10 minutes on a 2-core machine, their
figures in `bench/results/latest.json`.

- collect, 10,000 accounts, product defaults (1,000 accounts a shard, 4 pool slots, batches of 100):
  the headline figures (`collect.*`);
- collect, 1,000 accounts: the product defaults again (the peak RSS baseline for
  `collect.peak_rss_ratio_10k_1k`), then the variants 1 shard, 16 shards, batches of 25 and
  injected faults, one interval each (`collect.variants.*`);
- refresh, 1,000 due accounts, 100 ms at the token endpoint (`refresh.*`);
- the read API, 10,000 accounts and a year of daily history (`api.*`: `api.overview_p99_ms`,
  `api.overview_ratio_to_ceiling` and the same per route; `bench/api.py --full` for 100,000).

Ratios, not times, are the figures to compare: the machine may be busy with other work.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import api, collect, refresh

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
VARIANTS = ["default", "shards=1", "shards=16", "batch=25", "faults"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--accounts", type=int, default=10_000, help="the headline run")
    p.add_argument("--small", type=int, default=1_000, help="the RSS baseline and the variants")
    p.add_argument("--refresh-accounts", type=int, default=1_000)
    p.add_argument("--api-accounts", type=int, default=10_000, help="the read API benchmark (0: skip it)")
    p.add_argument("--out", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    began = time.time()

    big = collect.run(collect.parser().parse_args(["--accounts", str(args.accounts)]))["default"]
    small_args = ["--accounts", str(args.small), "--naive-sample", str(min(100, args.small))]
    small = collect.run(collect.parser().parse_args(small_args + [a for v in VARIANTS for a in ("--scenario", v)]))
    token = refresh.run(refresh.main_parser().parse_args(["--accounts", str(args.refresh_accounts)]))

    results: dict[str, Any] = {
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "collect": {
            "accounts": big["accounts"],
            "ratio_to_floor": big["ratio_to_floor"],
            "max_rps": big["max_rps"],
            "budget_rps": big["budget_rps"],
            "http_429_share": big["http_429_share"],
            "lost": big["lost"],
            "speedup_vs_naive": big["speedup_vs_naive"],
            "speedup_ceiling": big["speedup_ceiling"],
            "speedup_share_of_ceiling": big["speedup_share_of_ceiling"],
            "peak_rss_mb": big["peak_rss_mb"],
            "peak_rss_mb_1k": small["default"]["peak_rss_mb"],
            "peak_rss_ratio_10k_1k": round(big["peak_rss_mb"] / small["default"]["peak_rss_mb"], 3),
            "run": big,
            "variants": small,
        },
        "refresh": {
            "accounts": token["accounts"],
            "ratio_to_floor": token["ratio_to_floor"],
            "exactly_one_refresh_per_account": token["exactly_one_refresh_per_account"],
            "run": token,
        },
        "total_seconds": round(time.time() - began, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # Other benchmarks (bench/api.py writes `api`) keep their figures: only ours are replaced.
    earlier = json.loads(args.out.read_text()) if args.out.exists() else {}
    args.out.write_text(json.dumps({**earlier, **results}, indent=2) + "\n")
    print(f"wrote {args.out} in {results['total_seconds']} s")
    # The read API last: it adds `api` to the file just written (read-modify-write).
    api_ok = args.api_accounts <= 0 or api.main(["--accounts", str(args.api_accounts), "--out", str(args.out)]) == 0
    ok = (
        api_ok
        and token["exactly_one_refresh_per_account"]
        and big["lost"] == 0
        and all(v["lost"] == 0 for v in small.values())
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
