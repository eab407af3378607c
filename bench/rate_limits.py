#!/usr/bin/env python3
"""What rate limiting costs: the same endpoints with limits off, and on with Redis counters.

Three gunicorn services (production config, 2 workers) on one scratch PostgreSQL
database, all with ``OUTTER_REDIS_URL`` set (cross-process invalidation in every run),
differing only in their limits:

- ``off``: ``OUTTER_RATE_LIMITS=false``;
- ``on``: limits on, counters in Redis, budgets too large to be reached, so every
  counted request pays for its counter but none is refused;
- ``flood``: as ``on`` with a refusal budget of 10/minute, so a flood of bad keys is
  answered 429 after the first ten.

Each figure is taken against ``GET /healthz`` of the same service just before it (the
machine is noisy); "on ÷ off" compares those ratios.

    python bench/rate_limits.py [--duration 8] [--warmup 2]

Needs wrk, psql, Redis at 127.0.0.1:6379 and PostgreSQL at 127.0.0.1:5432.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402 (the shared helpers of bench/run.py)

from outter_auth.services import api_key_format  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/0"
UNREACHABLE = "1000000/minute"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    for tool in ("wrk", "psql"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed (apt-get install wrk postgresql-client)")

    workdir = Path(tempfile.mkdtemp(prefix="outter-bench-limits-"))
    database = f"outter_bench_limits_{os.getpid()}"
    bench.psql(f"CREATE DATABASE {database}")
    env = {
        **os.environ,
        "OUTTER_ENV": "production",
        "OUTTER_ISSUER": "https://auth.outter.test",
        "OUTTER_SECRET_KEY": secrets.token_urlsafe(32),
        "OUTTER_API_KEY_PEPPER": secrets.token_urlsafe(32),
        "OUTTER_DATABASE_URL": f"{bench.PG}/{database}",
        "OUTTER_KEYS_DIR": str(workdir / "keys"),
        "OUTTER_REDIS_URL": REDIS_URL,
        "OUTTER_CLIENT_TOKEN_REUSE": "0",  # the token row measures the endpoint, not the reuse cache
    }
    generous = {
        f"OUTTER_RATE_LIMIT_{name}": UNREACHABLE
        for name in ("LOGIN_IP", "LOGIN_ACCOUNT", "TOKEN_IP", "TOKEN_ACCOUNT", "REFUSALS_IP")
    }
    modes = {
        "off": {**env, "OUTTER_RATE_LIMITS": "false"},
        "on": {**env, **generous, "OUTTER_RATE_LIMITS": "true"},
        "flood": {**env, **generous, "OUTTER_RATE_LIMITS": "true", "OUTTER_RATE_LIMIT_REFUSALS_IP": "10/minute"},
    }
    try:
        bench.subprocess.run([bench.OUTTER_AUTH, "db", "upgrade"], cwd=bench.REPO, env=env, check=True)
        bench.subprocess.run([bench.OUTTER_AUTH, "keys", "generate"], cwd=bench.REPO, env=env, check=True)
        creds = bench.seed(env, workdir, 100)
        valid = {"header_name": "X-API-Key", "header_value": creds["api_key"]}
        refused = {"header_name": "X-API-Key", "header_value": api_key_format.generate("live")}
        verify = {"method": "POST", "path": "/api/auth/api-keys/verify"}
        token = {
            "method": "POST",
            "path": "/oauth/token",
            "body": "grant_type=client_credentials",
            "content_type": "application/x-www-form-urlencoded",
            "auth": bench.basic(creds["client_id"], creds["client_secret"]),
        }
        rows: dict[tuple[str, str], dict] = {}
        for mode, mode_env in modes.items():
            service = bench.Service(mode_env, bench.free_port(), str(workdir / f"gunicorn-{mode}.log"))
            try:
                if mode != "flood":
                    rows[(mode, "verify, valid key (hot)")] = bench.measure(service.port, args, **verify, **valid)
                    rows[(mode, "check, valid key (hot)")] = bench.measure(
                        service.port, args, path="/api/auth/gateway/check", **valid
                    )
                    rows[(mode, "token, client_credentials")] = bench.measure(service.port, args, **token)
                rows[(mode, "verify, one unknown key (flood)")] = bench.measure(service.port, args, **verify, **refused)
            finally:
                service.stop()
        report(rows, args)
    finally:
        bench.psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        shutil.rmtree(workdir, ignore_errors=True)


def report(rows: dict[tuple[str, str], dict], args: argparse.Namespace) -> None:
    print(
        f"\nwrk -t{args.threads} -c{args.connections} -d{args.duration}s after {args.warmup}s warm-up; "
        "gunicorn 2 sync workers, PostgreSQL, Redis\n"
    )
    print("| limits | endpoint | req/s | p50 ms | p99 ms | × healthz | non-2xx |\n|---|---|---:|---:|---:|---:|---:|")
    for (mode, name), row in rows.items():
        print(
            f"| {mode} | {name} | {row['rps']:.0f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | "
            f"{row['rps'] / row['baseline_rps']:.2f} | {row['non2xx']} |"
        )
    print("\n| endpoint | on ÷ off (× healthz) |\n|---|---:|")
    for mode, name in rows:
        if mode == "on":
            on, off = rows[("on", name)], rows[("off", name)]
            print(f"| {name} | {(on['rps'] / on['baseline_rps']) / (off['rps'] / off['baseline_rps']):.2f} |")
    flood, off = rows[("flood", "verify, one unknown key (flood)")], rows[("off", "verify, one unknown key (flood)")]
    ratio = (flood["rps"] / flood["baseline_rps"]) / (off["rps"] / off["baseline_rps"])
    print(f"| verify, flood answered 429 (budget 10/minute) ÷ 401s with limits off | {ratio:.2f} |")


if __name__ == "__main__":
    main()
