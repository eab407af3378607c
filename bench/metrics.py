#!/usr/bin/env python3
"""What metrics cost on the hot path: verify (and check) with OUTTER_METRICS on ÷ off.

Two gunicorn services (production config, 2 workers, the package's gunicorn settings, so
metrics run in prometheus_client's multiprocess mode as in production) on one scratch
PostgreSQL database, differing only in ``OUTTER_METRICS``. Both run at once and are measured
in alternating rounds (off, on, on, off, ...), so drift of a noisy machine falls on both; the
figure is the median over rounds of req/s on ÷ req/s off, raw (not against /healthz: /healthz
pays the per-request series too, so a ratio against it would hide their cost).

Then, because a shared 2-core machine makes wrk figures swing by ±30 % between runs, the same
cost in-process, where only our code runs: one process (multiprocess mode on, as under
gunicorn) times batches of ``verify`` requests through the WSGI test client with the metrics
switch of ``outter_auth.metrics`` off and on in alternation; the figure is the median over
batches of µs off ÷ µs on (= throughput on ÷ off), and the ratio of the fastest batch of each
mode (the batches least disturbed by other processes: closest to the cost of our code alone).

    python bench/metrics.py [--duration 8] [--warmup 2] [--rounds 3] [--batches 20] [--batch 500]

Needs wrk, psql and PostgreSQL at 127.0.0.1:5432. Goal (issue 13): verify on ÷ off ≥ 0.95.
"""

from __future__ import annotations

import argparse
import json
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
    parser.add_argument("--batches", type=int, default=20, help="in-process: batches per mode")
    parser.add_argument("--batch", type=int, default=500, help="in-process: requests per batch")
    parser.add_argument("--no-wrk", action="store_true", help="only the in-process measurement")
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
        api_key = seed_key(env)
        valid = {"header_name": "X-API-Key", "header_value": api_key}
        endpoints = {
            "verify, valid key (hot)": {"method": "POST", "path": "/api/auth/api-keys/verify", **valid},
            "check, valid key (hot)": {"path": "/api/auth/gateway/check", **valid},
            "healthz": {"path": "/healthz"},
        }
        in_process(env, workdir, api_key, args)
        if args.no_wrk:
            return
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


def seed_key(env: dict[str, str]) -> str:
    """A tenant and one API key, made through the CLI (its interface is the stable one)."""

    def cli(*args: str) -> str:
        done = bench.subprocess.run([bench.OUTTER_AUTH, *args], cwd=bench.REPO, env=env, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"outter-auth {' '.join(args)}: {done.stderr}")
        return done.stdout

    cli("tenants", "create", "bench")
    created = cli("api-keys", "create", "--tenant", "bench", "--name", "bench", "--scope", "content:generate", "--json")
    return str(json.loads(created)["key"])


IN_PROCESS = """
import json, sys, time
from outter_auth import metrics
from outter_auth.app import create_app

key, batches, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
client = create_app({"metrics": True}).test_client()
headers = {"X-API-Key": key}

def batch():
    started = time.perf_counter()
    for _ in range(size):
        assert client.post("/api/auth/api-keys/verify", headers=headers).status_code == 200
    return (time.perf_counter() - started) / size * 1e6

batch()  # warm: the key is cached, the metric children exist
micros = {"off": [], "on": []}
for n in range(batches):
    for mode in (("off", "on") if n % 2 == 0 else ("on", "off")):
        metrics._enabled = mode == "on"  # the switch OUTTER_METRICS sets at start-up
        micros[mode].append(batch())
print(json.dumps(micros))
"""


def in_process(env: dict[str, str], workdir: Path, key: str, args: argparse.Namespace) -> None:
    multiproc = workdir / "prometheus"
    multiproc.mkdir()
    out = bench.subprocess.run(
        [sys.executable, "-c", IN_PROCESS, key, str(args.batches), str(args.batch)],
        cwd=bench.REPO,
        env={**env, "PROMETHEUS_MULTIPROC_DIR": str(multiproc)},
        stdout=bench.subprocess.PIPE,
        stderr=bench.subprocess.DEVNULL,  # one log line per request
        text=True,
        check=True,
    )
    micros = json.loads(out.stdout.strip().splitlines()[-1])
    off, on = micros["off"], micros["on"]
    ratio = statistics.median(a / b for a, b in zip(off, on, strict=True))
    print(
        f"\nin-process, verify of a cached key through the WSGI test client, {args.batches} alternating batches "
        f"of {args.batch} (multiprocess metrics):\n"
    )
    print("| metrics | µs per request (median) | min | max |\n|---|---:|---:|---:|")
    for mode, values in (("off", off), ("on", on)):
        print(f"| {mode} | {statistics.median(values):.1f} | {min(values):.1f} | {max(values):.1f} |")
    best = min(off) / min(on)  # the least disturbed batch of each: the cost of our code alone
    verdict = "met" if ratio >= GOAL else "NOT met"
    print(
        f"\nverify throughput on ÷ off: {ratio:.3f} (median of batch ratios; goal ≥ {GOAL}: {verdict}), "
        f"{best:.3f} (fastest batch of each)"
    )


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
