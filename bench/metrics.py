#!/usr/bin/env python3
"""What metrics cost on the hot path: verify (and check) with OUTTER_METRICS on ÷ off.

Two gunicorn services (production config, 2 workers, the package's gunicorn settings, so
metrics run in prometheus_client's multiprocess mode as in production) on one scratch
PostgreSQL database, differing only in ``OUTTER_METRICS``. Both run at once and are measured
in alternating rounds (off, on, on, off, ...), so drift of a noisy machine falls on both; the
figure is the median over rounds of req/s on ÷ req/s off, raw (not against /healthz: /healthz
pays the per-request series too, so a ratio against it would hide their cost).

    python bench/metrics.py [--duration 8] [--warmup 2] [--rounds 3]

Needs wrk, psql and PostgreSQL at 127.0.0.1:5432. Goal (issue 13): verify on ÷ off ≥ 0.95.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402 (the shared helpers of bench/run.py)

GOAL = 0.95


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    for tool in ("wrk", "psql"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed (apt-get install wrk postgresql-client)")

    workdir = Path(tempfile.mkdtemp(prefix="outter-bench-metrics-"))
    database = f"outter_bench_metrics_{os.getpid()}"
    bench.psql(f"CREATE DATABASE {database}")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OUTTER_", "PROMETHEUS_"))},
        "OUTTER_ENV": "production",
        "OUTTER_ISSUER": "https://auth.outter.test",
        "OUTTER_SECRET_KEY": secrets.token_urlsafe(32),
        "OUTTER_API_KEY_PEPPER": secrets.token_urlsafe(32),
        "OUTTER_DATABASE_URL": f"{bench.PG}/{database}",
        "OUTTER_KEYS_DIR": str(workdir / "keys"),
    }
    modes = {"off": {**env, "OUTTER_METRICS": "false"}, "on": {**env, "OUTTER_METRICS": "true"}}
    services: dict[str, bench.Service] = {}
    try:
        bench.subprocess.run([bench.OUTTER_AUTH, "db", "upgrade"], cwd=bench.REPO, env=env, check=True)
        bench.subprocess.run([bench.OUTTER_AUTH, "keys", "generate"], cwd=bench.REPO, env=env, check=True)
        creds = bench.seed(env, workdir, 100)
        valid = {"header_name": "X-API-Key", "header_value": creds["api_key"]}
        endpoints = {
            "verify, valid key (hot)": {"method": "POST", "path": "/api/auth/api-keys/verify", **valid},
            "check, valid key (hot)": {"path": "/api/auth/gateway/check", **valid},
            "healthz": {"path": "/healthz"},
        }
        for mode, mode_env in modes.items():
            services[mode] = bench.Service(mode_env, bench.free_port(), str(workdir / f"gunicorn-{mode}.log"))
        rps: dict[tuple[str, str], list[float]] = {}
        for round_ in range(args.rounds):
            order = ("off", "on") if round_ % 2 == 0 else ("on", "off")
            for name, request in endpoints.items():
                for mode in order:
                    result = bench.measure_alone(services[mode].port, args, **request)
                    rps.setdefault((mode, name), []).append(result["rps"])
                    if result["non2xx"]:
                        raise SystemExit(f"{mode} {name}: {result['non2xx']} non-2xx answers")
        report(rps, args)
    finally:
        for service in services.values():
            service.stop()
        bench.psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        shutil.rmtree(workdir, ignore_errors=True)


def report(rps: dict[tuple[str, str], list[float]], args: argparse.Namespace) -> None:
    print(
        f"\nwrk -t{args.threads} -c{args.connections} -d{args.duration}s after {args.warmup}s warm-up, "
        f"{args.rounds} alternating rounds; gunicorn 2 sync workers, PostgreSQL, multiprocess metrics\n"
    )
    print("| endpoint | req/s off (rounds) | req/s on (rounds) | on ÷ off (median of rounds) |\n|---|---|---|---:|")
    for name in dict.fromkeys(name for _, name in rps):
        off, on = rps[("off", name)], rps[("on", name)]
        ratio = statistics.median(b / a for a, b in zip(off, on, strict=True))
        rounds_off = ", ".join(f"{v:.0f}" for v in off)
        rounds_on = ", ".join(f"{v:.0f}" for v in on)
        goal = f" (goal ≥ {GOAL}: {'met' if ratio >= GOAL else 'NOT met'})" if name.startswith("verify") else ""
        print(f"| {name} | {rounds_off} | {rounds_on} | {ratio:.3f}{goal} |")


if __name__ == "__main__":
    main()
