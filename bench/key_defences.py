#!/usr/bin/env python3
"""What per-key rate limits and usage counting (issue 15) cost on the hot path.

Two goals (SPEC §14: "keys without a limit pay nothing for the feature"):

- verify of a key **without** a limit, this code ÷ the code before it, ≥ 0.97;
- verify of a key **with** a limit (counted in Redis) ÷ one without, ≥ 0.8.

"Before" is another commit (``--before``, default ``main``: run it from a branch not merged
yet, or give the commit before the merge), checked out with ``git worktree`` into a scratch
folder and served from there. Both versions run on one scratch PostgreSQL database migrated
by this code (the old code reads the columns it knows), both with ``OUTTER_REDIS_URL``.

A shared 2-core machine makes wrk figures swing by ±10 % and more between runs, so:

0. **the added work alone**: the usage count every verify now makes, and a limited key's
   spend from its slice, each timed over 200,000 calls (thread CPU time);
1. **in-process**, verify through the WSGI test client, the request thread's CPU time and
   the elapsed time per request, in batches: (A) the unlimited key in alternating
   subprocesses of the old and the new code, doing the same work; (B) the limited and the
   unlimited key in alternating batches of the new code; (C) the unlimited key with usage
   counting switched off and on in alternating batches of one process (the change's cost in
   place, with no second process to differ). Figures: the median of the ratios of pairs,
   and the ratio of the fastest of each (closest to our code alone);
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
from typing import Any

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

keys, batches, size, toggle = json.loads(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "toggle"
app = create_app()
client = app.test_client()
recorder = app.extensions["outter_auth"].key_usage
counting = getattr(recorder, "count", None)  # the code before has none

def batch(key):
    headers = {"X-API-Key": key}
    wall, cpu = time.perf_counter(), time.thread_time()
    for _ in range(size):
        assert client.post("/api/auth/api-keys/verify", headers=headers).status_code == 200
    return (time.perf_counter() - wall) / size * 1e6, (time.thread_time() - cpu) / size * 1e6

# Series: one per key, or (toggle) the unlimited key with usage counting off and on.
runs = {name: (key, True) for name, key in keys.items()}
if toggle:
    runs = {"counting off": (keys["unlimited"], False), "counting on": (keys["unlimited"], True)}
for key, _ in runs.values():
    batch(key)  # warm: keys cached, connections open
micros = {name: {"wall": [], "cpu": []} for name in runs}
for n in range(batches):
    for name in (list(runs) if n % 2 == 0 else list(reversed(runs))):
        key, count = runs[name]
        if toggle:
            recorder.count = counting if count else (lambda *args: None)
        wall, cpu = batch(key)
        micros[name]["wall"].append(wall)
        micros[name]["cpu"].append(cpu)
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
        added_work(env)
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
    """Three comparisons, each of series measured alike (see the module's docstring)."""
    print(
        f"\nin-process: verify through the WSGI test client, batches of {args.batch}. cpu: the request thread's "
        "CPU time (time.thread_time: what other processes on the machine cannot inflate); wall: elapsed time"
    )
    # A. The same work in the old and the new code: alternating subprocesses, one median each.
    per_run: dict[str, dict[str, list[float]]] = {"cpu": {}, "wall": {}}
    for run in range(args.runs):
        for version in ("before", "after") if run % 2 == 0 else ("after", "before"):
            result = measure_in(code[version], env, {"unlimited": keys["unlimited"]}, args)
            if run == 0:
                print(f"{version}: outter_auth from {Path(str(result['code'])).parent}")
            for clock in per_run:
                per_run[clock].setdefault(version, []).append(statistics.median(result["unlimited"][clock]))
    compare("A. unlimited key, this code ÷ the code before it", per_run, ("before", "after"), UNLIMITED_GOAL)
    # B. The limited and the unlimited key in the new code: alternating batches in each subprocess.
    per_batch = batches_of(code["after"], env, keys, args, toggle=False)
    compare("B. limited ÷ unlimited key (this code)", per_batch, ("unlimited", "limited"), LIMITED_GOAL)
    # C. Usage counting switched off and on in alternating batches of one process: its cost in place.
    toggled = batches_of(code["after"], env, keys, args, toggle=True)
    compare("C. unlimited key, usage counting on ÷ off (this code)", toggled, ("counting off", "counting on"), None)


def measure_in(
    folder: Path, env: dict[str, str], keys: dict[str, str], args: argparse.Namespace, toggle: bool = False
) -> dict[str, Any]:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            IN_PROCESS,
            json.dumps(keys),
            str(args.batches),
            str(args.batch),
            "toggle" if toggle else "keys",
        ],
        cwd=folder,
        env=code_env(folder, env),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # one log line per request
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def batches_of(
    folder: Path, env: dict[str, str], keys: dict[str, str], args: argparse.Namespace, toggle: bool
) -> dict[str, dict[str, list[float]]]:
    """Every batch's µs per request, by clock and series, over ``args.runs // 2`` subprocesses."""
    series: dict[str, dict[str, list[float]]] = {"cpu": {}, "wall": {}}
    for _ in range(max(1, args.runs // 2)):
        result = measure_in(folder, env, keys, args, toggle)
        for name, values in result.items():
            if name != "code":
                for clock in series:
                    series[clock].setdefault(name, []).extend(values[clock])
    return series


def compare(title: str, series: dict[str, dict[str, list[float]]], pair: tuple[str, str], goal: float | None) -> None:
    """Throughput of ``pair[1]`` ÷ ``pair[0]`` (µs per request of ``pair[0]`` ÷ of ``pair[1]``)."""
    base, other = pair
    columns = f"| clock | µs {base} (median) | µs {other} (median) | median of pairs | fastest ÷ fastest | goal |"
    print(f"\n{title}\n\n{columns}")
    print("|---|---:|---:|---:|---:|---|")
    for clock, values in series.items():
        a, b = values[base], values[other]
        median = statistics.median(x / y for x, y in zip(a, b, strict=True))
        best = min(a) / min(b)
        verdict = f"≥ {goal}: {met(median, goal)}" if goal else "—"
        print(
            f"| {clock} | {statistics.median(a):.1f} | {statistics.median(b):.1f} | {median:.3f} | {best:.3f} | "
            f"{verdict} |"
        )


ADDED = """
import json, time
from outter_auth import clock
from outter_auth.models import RateLimit
from outter_auth.rate_limits import key_limiter
from outter_auth.config import load_settings
from outter_auth.services.key_usage import KeyUsageRecorder, VERIFIED

calls = 200_000
recorder = KeyUsageRecorder(lambda batch: None, background=False)
limiter = key_limiter(load_settings())
rate = RateLimit(1_000_000, 86_400)  # a slice of 1,000: one Redis round trip per 1,000 calls

def per_call(function):
    function()
    started = time.thread_time()
    for _ in range(calls):
        function()
    return (time.thread_time() - started) / calls * 1e6

print(json.dumps({
    "usage count (every key)": per_call(lambda: recorder.count("key_x", VERIFIED, clock.now())),
    "limit spend, from the slice (a limited key)": per_call(lambda: limiter.spend("key_bench_x", rate)),
}))
"""


def added_work(env: dict[str, str]) -> None:
    """The work the feature adds to one verify, timed alone (CPU time of the calling thread)."""
    done = subprocess.run(
        [sys.executable, "-c", ADDED], cwd=bench.REPO, env=env, capture_output=True, text=True, check=True
    )
    micros = json.loads(done.stdout.strip().splitlines()[-1])
    print("\nwhat the feature adds to a verify, timed alone (thread CPU time, 200,000 calls):\n")
    print("| work | µs per call |\n|---|---:|")
    for name, value in micros.items():
        print(f"| {name} | {value:.2f} |")


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
