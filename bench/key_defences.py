#!/usr/bin/env python3
"""What per-key rate limits and usage counting (issue 15) cost on the hot path.

Two goals (SPEC §14: "keys without a limit pay nothing for the feature"):

- verify of a key **without** a limit, this code ÷ the code before it, ≥ 0.97;
- verify of a key **with** a limit (counted in Redis) ÷ one without, ≥ 0.8.

"Before" is another commit (``--before``, default ``main``: run it from a branch not merged
yet, or give the commit before the merge), checked out with ``git worktree`` into a scratch
folder and served from there. Both versions run on one scratch PostgreSQL database migrated
by this code (the old code reads the columns it knows), both with ``OUTTER_REDIS_URL``.

Measured twice, because a shared 2-core machine makes wrk figures swing by ±10 % between runs:

1. **in-process**: verify through the WSGI test client in alternating subprocesses of the old
   and the new code (old, new, new, old, ...), each timing batches of requests; and, in the
   new code, batches alternating between the limited and the unlimited key. Figures: the
   median of the ratios, and the ratio of the fastest batches (closest to our code alone);
2. **wrk**: both gunicorn services (production config, 2 workers) up at once, measured in
   alternating rounds; the figure is the median over rounds of req/s ÷ req/s.

    python bench/key_defences.py [--before main] [--duration 8] [--rounds 3] [--runs 6] [--no-wrk]

Needs git, wrk, psql, PostgreSQL at 127.0.0.1:5432 and Redis at 127.0.0.1:6379.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402 (the shared helpers of bench/run.py)

REDIS_URL = "redis://127.0.0.1:6379/0"
UNLIMITED_GOAL, LIMITED_GOAL = 0.97, 0.8
# Out of reach during the run: every request pays for its counter, none is refused.
LIMIT = {"limit": 1_000_000, "window_seconds": 86_400}

SEED = """
import json
from outter_auth.app import create_app
from outter_auth.extensions import db
from outter_auth.models import RateLimit
from outter_auth.runtime import runtime
from outter_auth.services import api_keys, tenancy
from outter_auth.services.ceilings import Caller

app = create_app(serving=False)
with app.app_context():
    tenant = tenancy.create_tenant(db.session, "bench")
    operator, peppers = Caller(tenant.id, "bench"), runtime().peppers
    _, unlimited = api_keys.create_key(db.session, operator, api_keys.KeyDraft("free", ["a"]), peppers=peppers)
    draft = api_keys.KeyDraft("limited", ["a"], rate_limit=RateLimit({limit}, {window}))
    _, limited = api_keys.create_key(db.session, operator, draft, peppers=peppers)
    print(json.dumps({{"unlimited": unlimited, "limited": limited}}))
"""

IN_PROCESS = """
import json, sys, time
import outter_auth
from outter_auth.app import create_app

keys, batches, size = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
client = create_app().test_client()

def batch(key):
    headers = {"X-API-Key": key}
    started = time.perf_counter()
    for _ in range(size):
        assert client.post("/api/auth/api-keys/verify", headers=headers).status_code == 200
    return (time.perf_counter() - started) / size * 1e6

for key in keys.values():
    batch(key)  # warm: keys cached, connections open
micros = {name: [] for name in keys}
for n in range(batches):
    for name in (list(keys) if n % 2 == 0 else list(reversed(keys))):
        micros[name].append(batch(keys[name]))
print(json.dumps({**micros, "code": outter_auth.__file__}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", default="main", help="the commit to compare with (default: main)")
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="wrk: alternating rounds")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=6, help="in-process: subprocesses per version")
    parser.add_argument("--batches", type=int, default=10, help="in-process: batches per key and run")
    parser.add_argument("--batch", type=int, default=300, help="in-process: requests per batch")
    parser.add_argument("--no-wrk", action="store_true", help="only the in-process measurement")
    args = parser.parse_args()
    for tool in ("git", "wrk", "psql"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed")

    workdir = Path(tempfile.mkdtemp(prefix="outter-bench-keys-"))
    before = workdir / "before"
    subprocess.run(["git", "-C", str(bench.REPO), "worktree", "add", "--detach", str(before), args.before], check=True)
    database = f"outter_bench_keys_{os.getpid()}"
    bench.psql(f"CREATE DATABASE {database}")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OUTTER_", "PROMETHEUS_", "PYTHONPATH"))},
        "OUTTER_ENV": "production",
        "OUTTER_ISSUER": "https://auth.outter.test",
        "OUTTER_SECRET_KEY": secrets.token_urlsafe(32),
        "OUTTER_API_KEY_PEPPER": secrets.token_urlsafe(32),
        "OUTTER_DATABASE_URL": f"{bench.PG}/{database}",
        "OUTTER_KEYS_DIR": str(workdir / "keys"),
        "OUTTER_REDIS_URL": REDIS_URL,
    }
    code = {"before": before, "after": bench.REPO}
    services: list[subprocess.Popen[bytes]] = []
    try:
        subprocess.run([bench.OUTTER_AUTH, "db", "upgrade"], cwd=bench.REPO, env=env, check=True, capture_output=True)
        subprocess.run(
            [bench.OUTTER_AUTH, "keys", "generate"], cwd=bench.REPO, env=env, check=True, capture_output=True
        )
        keys = seed(env)
        in_process(code, env, keys, args)
        if args.no_wrk:
            return
        ports = {}
        for version, folder in code.items():
            ports[version] = bench.free_port()
            services.append(serve(folder, env, ports[version], workdir / f"gunicorn-{version}.log"))
        with_wrk(ports, keys, args)
    finally:
        for process in services:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(15)
        bench.psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        subprocess.run(["git", "-C", str(bench.REPO), "worktree", "remove", "--force", str(before)], check=False)
        shutil.rmtree(workdir, ignore_errors=True)


def seed(env: dict[str, str]) -> dict[str, str]:
    """A tenant, a key without a limit and one with a limit out of reach (made by this code)."""
    script = SEED.format(limit=LIMIT["limit"], window=LIMIT["window_seconds"])
    done = subprocess.run([sys.executable, "-c", script], cwd=bench.REPO, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr)
    keys: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return keys


def code_env(folder: Path, env: dict[str, str]) -> dict[str, str]:
    """The environment that imports ``outter_auth`` from ``folder`` (ahead of the installed package)."""
    return {**env, "PYTHONPATH": str(folder)}


def in_process(code: dict[str, Path], env: dict[str, str], keys: dict[str, str], args: argparse.Namespace) -> None:
    micros: dict[str, list[float]] = {"before": [], "after": [], "after, limited": [], "after, unlimited": []}
    for run in range(args.runs):
        for version in ("before", "after") if run % 2 == 0 else ("after", "before"):
            wanted = {"unlimited": keys["unlimited"]}
            if version == "after":
                wanted["limited"] = keys["limited"]
            done = subprocess.run(
                [sys.executable, "-c", IN_PROCESS, json.dumps(wanted), str(args.batches), str(args.batch)],
                cwd=code[version],
                env=code_env(code[version], env),
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,  # one log line per request
                text=True,
                check=True,
            )
            result = json.loads(done.stdout.strip().splitlines()[-1])
            if run == 0:
                print(f"{version}: outter_auth from {Path(result['code']).parent}")
            micros[version].append(statistics.median(result["unlimited"]))
            if version == "after":
                micros["after, limited"] += result["limited"]
                micros["after, unlimited"] += result["unlimited"]
    print(
        f"\nin-process: verify through the WSGI test client; {args.runs} alternating subprocesses per version, "
        f"{args.batches} batches of {args.batch} per key and subprocess\n"
    )
    print("| verify | µs per request (median) | min | max |\n|---|---:|---:|---:|")
    for name in ("before", "after"):
        values = micros[name]
        print(f"| unlimited key, {name} | {statistics.median(values):.1f} | {min(values):.1f} | {max(values):.1f} |")
    for name in ("after, unlimited", "after, limited"):
        values = micros[name]
        label = name.replace("after, ", "") + " key, after (batch by batch)"
        print(f"| {label} | {statistics.median(values):.1f} | {min(values):.1f} | {max(values):.1f} |")
    unlimited = statistics.median(b / a for b, a in zip(micros["before"], micros["after"], strict=True))
    unlimited_best = min(micros["before"]) / min(micros["after"])
    limited = statistics.median(
        u / lim for u, lim in zip(micros["after, unlimited"], micros["after, limited"], strict=True)
    )
    limited_best = min(micros["after, unlimited"]) / min(micros["after, limited"])
    print(
        f"\nunlimited key, after ÷ before: {unlimited:.3f} (median of run pairs), {unlimited_best:.3f} (fastest run "
        f"of each); goal ≥ {UNLIMITED_GOAL}: {met(unlimited, UNLIMITED_GOAL)}\n"
        f"limited ÷ unlimited key: {limited:.3f} (median of batch pairs), {limited_best:.3f} (fastest batch of each); "
        f"goal ≥ {LIMITED_GOAL}: {met(limited, LIMITED_GOAL)}"
    )


def serve(folder: Path, env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    """gunicorn serving ``folder``'s code with its own gunicorn configuration."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(folder / "gunicorn.conf.py"), "wsgi:app"],
        cwd=folder,
        env={
            **code_env(folder, env),
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_WORKERS": "2",
            "GUNICORN_ACCESSLOG": "",
        },
        stdout=subprocess.DEVNULL,
        stderr=open(log, "w"),  # noqa: SIM115 (lives as long as the process)
        start_new_session=True,
    )
    try:
        bench.wait_http(f"http://127.0.0.1:{port}/healthz")
    except SystemExit:
        raise SystemExit(f"gunicorn in {folder} did not start:\n{log.read_text()[-2000:]}") from None
    return process


def with_wrk(ports: dict[str, int], keys: dict[str, str], args: argparse.Namespace) -> None:
    def verify(key: str) -> dict[str, str]:
        return {"method": "POST", "path": "/api/auth/api-keys/verify", "header_name": "X-API-Key", "header_value": key}

    def check(key: str) -> dict[str, str]:
        return {"path": "/api/auth/gateway/check", "header_name": "X-API-Key", "header_value": key}

    runs = {
        ("before", "verify, unlimited key"): (ports["before"], verify(keys["unlimited"])),
        ("after", "verify, unlimited key"): (ports["after"], verify(keys["unlimited"])),
        ("after", "verify, limited key"): (ports["after"], verify(keys["limited"])),
        ("before", "check, unlimited key"): (ports["before"], check(keys["unlimited"])),
        ("after", "check, unlimited key"): (ports["after"], check(keys["unlimited"])),
        ("after", "check, limited key"): (ports["after"], check(keys["limited"])),
    }
    rps: dict[tuple[str, str], list[float]] = {}
    for round_ in range(args.rounds):
        order = list(runs) if round_ % 2 == 0 else list(reversed(runs))
        for name in order:
            port, request = runs[name]
            result = bench.measure_alone(port, args, **request)
            if result["non2xx"] or result["errors"]:
                raise SystemExit(f"{name}: {result['non2xx']} non-2xx answers, {result['errors']} errors")
            rps.setdefault(name, []).append(result["rps"])
    print(
        f"\nwrk -t{args.threads} -c{args.connections} -d{args.duration}s after {args.warmup}s warm-up, "
        f"{args.rounds} alternating rounds; gunicorn 2 sync workers each, PostgreSQL, Redis\n"
    )
    print("| version | request | req/s (rounds) |\n|---|---|---|")
    for (version, name), values in rps.items():
        print(f"| {version} | {name} | {', '.join(f'{v:.0f}' for v in values)} |")

    def ratio(a: tuple[str, str], b: tuple[str, str]) -> float:
        return statistics.median(x / y for x, y in zip(rps[a], rps[b], strict=True))

    print("\n| ratio | median of rounds | goal |\n|---|---:|---|")
    for endpoint in ("verify", "check"):
        after_before = ratio(("after", f"{endpoint}, unlimited key"), ("before", f"{endpoint}, unlimited key"))
        limited = ratio(("after", f"{endpoint}, limited key"), ("after", f"{endpoint}, unlimited key"))
        goals = endpoint == "verify"
        print(
            f"| {endpoint}, unlimited key: after ÷ before | {after_before:.3f} | "
            f"{f'≥ {UNLIMITED_GOAL}: {met(after_before, UNLIMITED_GOAL)}' if goals else '—'} |"
        )
        print(
            f"| {endpoint}: limited ÷ unlimited key (after) | {limited:.3f} | "
            f"{f'≥ {LIMITED_GOAL}: {met(limited, LIMITED_GOAL)}' if goals else '—'} |"
        )


def met(value: float, goal: float) -> str:
    return "met" if value >= goal else "NOT met"


if __name__ == "__main__":
    main()
