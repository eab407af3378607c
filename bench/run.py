#!/usr/bin/env python3
"""Outter Auth benchmark: one command, figures side by side in one run.

Starts the service under gunicorn (production config, 2 workers) on a scratch
PostgreSQL database, and node-oidc-provider (v9) as the peer token endpoint, then
drives each endpoint with wrk (16 connections, warm-up, fixed duration) and prints
req/s, p50, p99, worker RSS and the ratios that are our goals. Ratios are taken
against ``GET /healthz`` of the same run, because the machine is noisy.

    python bench/run.py [--duration 10] [--warmup 3] [--keys 100000] [--no-peer]
                        [--before REF] [--servers sync,gthread,granian]

``--before REF`` also serves the code of an earlier commit (a ``git worktree``, its own scratch
database) and measures it and this code one after the other; ``--servers`` serves this code
under each server with the same worker count. Ceilings (RS256 signatures and bcrypt checks on
two cores) are measured in the run with ``cryptography`` and ``bcrypt``.

Needs: wrk, node/npm (the peer is installed into bench/peer on first use),
PostgreSQL at 127.0.0.1:5432 (trust), and the package installed (pip install -e .).
``--before`` runs the old code in this environment, so install what it needed too (for
42afa88, the commit before issue 14: ``pip install Flask-Limiter``); ``--servers granian``
needs ``pip install granian``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from outter_auth.services import api_key_format

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
LUA = BENCH / "wrk" / "request.lua"
PG = "postgresql+psycopg://postgres@127.0.0.1:5432"
PASSWORD = "benchmark passphrase"
REDIS_URL = "redis://127.0.0.1:6379/0"
# The console script next to this Python (a venv need not be activated).
OUTTER_AUTH = str(Path(sys.executable).with_name("outter-auth"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def psql(sql: str) -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-qc", sql], check=True)


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)  # noqa: S310 (loopback only)
            return
        except Exception:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def http_json(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> dict:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())


SERVERS = ("sync", "gthread", "granian")


class Service:
    """The service under gunicorn (``sync``, the production default, or ``gthread``) or Granian,
    serving the code in ``folder`` (another version of this repository for a before/after)."""

    def __init__(self, env: dict[str, str], port: int, log: str, server: str = "sync", folder: Path = REPO) -> None:
        self.port = port
        self.server = server
        env = {**env, "PYTHONPATH": str(folder), "PROMETHEUS_MULTIPROC_DIR": ""}
        if server == "granian":
            # No gunicorn settings to make a metrics folder: an empty one would be the working
            # directory (the checkout) for prometheus_client's files. Metrics are off anyway.
            del env["PROMETHEUS_MULTIPROC_DIR"]
            command = [
                sys.executable,
                "-m",
                "granian",
                "--interface",
                "wsgi",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "2",
                "--blocking-threads",
                "1",
                "--no-access-log",
                "wsgi:app",
            ]
        else:
            command = [sys.executable, "-m", "gunicorn", "-c", str(folder / "gunicorn.conf.py"), "wsgi:app"]
            env.update(GUNICORN_BIND=f"127.0.0.1:{port}", GUNICORN_WORKERS="2", GUNICORN_ACCESSLOG="")
            if server == "gthread":
                env.update(GUNICORN_WORKER_CLASS="gthread", GUNICORN_THREADS="1")
        self.process = subprocess.Popen(
            command,
            cwd=folder,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(log, "w"),  # noqa: SIM115 (lives as long as the process)
            start_new_session=True,
        )
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz")
        except SystemExit:
            raise SystemExit(f"{server} did not start:\n{Path(log).read_text()[-2000:]}") from None

    def worker_rss_mb(self) -> list[float]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        sizes = []
        for pid in children:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(int(line.split()[1]) / 1024)
        return sizes

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(15)


def wrk(port: int, seconds: int, connections: int, threads: int, **request: str) -> dict:
    env = {**os.environ, **{f"WRK_{k.upper()}": v for k, v in request.items()}}
    result = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",  # a sign-in queues behind bcrypt for seconds: wrk's 2 s would drop it
            "30s",
            "--latency",
            "-s",
            str(LUA),
            f"http://127.0.0.1:{port}",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(x for x in result.stdout.splitlines() if x.startswith("JSON "))
    return json.loads(line[5:])


def measure_alone(port: int, args: argparse.Namespace, **request: str) -> dict:
    wrk(port, args.warmup, args.connections, args.threads, **request)
    return wrk(port, args.duration, args.connections, args.threads, **request)


def measure(port: int, args: argparse.Namespace, **request: str) -> dict:
    """The endpoint, and /healthz of the same service just before it: each ratio is taken
    against its own adjacent baseline, so drift of a noisy machine during the run cancels."""
    wrk(port, args.warmup, args.connections, args.threads, path="/healthz")
    baseline = wrk(port, args.duration, args.connections, args.threads, path="/healthz")
    wrk(port, args.warmup, args.connections, args.threads, **request)
    result = wrk(port, args.duration, args.connections, args.threads, **request)
    return {**result, "baseline_rps": baseline["rps"]}


def seed(env: dict[str, str], workdir: Path, many: int) -> dict[str, str]:
    """Tenant, owner, client, API keys; 100 and ``many`` keys for the cache-miss runs."""
    code = f"""
import json, sys
from sqlalchemy import insert
from outter_auth.app import create_app
from outter_auth.extensions import db
from outter_auth.models import ApiKey
from outter_auth.services import api_key_format, api_keys, clients, tenancy, users
from outter_auth.services.ceilings import Caller
from outter_auth.services.digests import secret_digest
from outter_auth.runtime import runtime

app = create_app(serving=False)
with app.app_context():
    state = runtime()
    tenant = tenancy.create_tenant(db.session, "bench")
    operator = Caller(tenant.id, "bench")
    users.create_member(db.session, operator, "owner@bench.test", {PASSWORD!r}, "owner", 4)
    draft = clients.ClientDraft("bench", ["client_credentials"], ["content:generate"])
    client, secret = clients.create_client(db.session, operator, draft, pepper=state.settings.api_key_pepper)
    key, raw = api_keys.create_key(db.session, operator, api_keys.KeyDraft("bench", ["content:generate"]),
                                   peppers=state.peppers)
    pepper = state.settings.api_key_pepper
    fingerprint = state.peppers.current_id
    for count, path in ((100, {str(workdir / "keys100.txt")!r}), ({many}, {str(workdir / "keysmany.txt")!r})):
        with open(path, "w") as out:
            for start in range(0, count, 5000):
                raws = [api_key_format.generate("live") for _ in range(min(5000, count - start))]
                db.session.execute(insert(ApiKey), [dict(
                    tenant_id=tenant.id, name="bulk", digest=secret_digest(r, pepper), pepper_id=fingerprint,
                    prefix=r[:16], last4=r[-4:], environment="live", scopes=["content:generate"],
                    created_by="bench") for r in raws])
                db.session.commit()
                out.write("\\n".join(raws) + "\\n")
    json.dump({{"client_id": client.id, "client_secret": secret, "api_key": raw}}, sys.stdout)
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def start_peer(port: int, client_id: str, secret: str) -> subprocess.Popen[bytes]:
    peer = BENCH / "peer"
    if not (peer / "node_modules" / "oidc-provider").exists():
        subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund"], cwd=peer, check=True)
    process = subprocess.Popen(
        ["node", "server.mjs", str(port), client_id, secret, "2"],
        cwd=peer,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_http(f"http://127.0.0.1:{port}/.well-known/openid-configuration")
    return process


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def cli_of(folder: Path, env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    """``outter-auth ARGS`` of the code in ``folder`` (its own CLI: the one that knows its schema)."""
    command = [sys.executable, "-c", "from outter_auth.cli import main; main()", *args]
    result = subprocess.run(
        command, cwd=folder, env={**env, "PYTHONPATH": str(folder)}, input=stdin, capture_output=True, text=True
    )
    if result.returncode:
        raise SystemExit(f"outter-auth {' '.join(args)} failed in {folder}:\n{result.stderr[-2000:]}")
    return result.stdout


def seed_by_cli(folder: Path, env: dict[str, str], workdir: Path, many: int) -> dict[str, str]:
    """What ``seed`` makes, through the CLI of the code in ``folder``: any version since the
    first wave speaks it, so a before/after run seeds both alike. Bulk keys go in by SQL, with
    the digest every version computes (HMAC-SHA256 under the pepper)."""
    import hashlib
    import hmac

    import psycopg

    cli_of(folder, env, "db", "upgrade")
    cli_of(folder, env, "keys", "generate")
    tenant = json.loads(cli_of(folder, env, "tenants", "create", "bench", "--json"))
    cli_of(
        folder,
        env,
        "users",
        "create",
        "owner@bench.test",
        "--tenant",
        "bench",
        "--role",
        "owner",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    client = json.loads(
        cli_of(
            folder,
            env,
            "clients",
            "create",
            "bench",
            "--tenant",
            "bench",
            "--grant-type",
            "client_credentials",
            "--scope",
            "content:generate",
            "--json",
        )
    )
    key = json.loads(
        cli_of(
            folder,
            env,
            "api-keys",
            "create",
            "--tenant",
            "bench",
            "--name",
            "bench",
            "--scope",
            "content:generate",
            "--json",
        )
    )
    pepper = env["OUTTER_API_KEY_PEPPER"].encode()
    url = env["OUTTER_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as connection, connection.cursor() as cursor:
        for count, name in ((100, "keys100.txt"), (many, "keysmany.txt")):
            with open(workdir / name, "w") as out:
                for start in range(0, count, 5000):
                    raws = [api_key_format.generate("live") for _ in range(min(5000, count - start))]
                    cursor.executemany(
                        "INSERT INTO api_keys (id, tenant_id, name, digest, pepper_id, prefix, last4, environment,"
                        " scopes, created_by, created_at) VALUES (%s, %s, 'bulk', %s, 'bench', %s, %s, 'live',"
                        " '[\"content:generate\"]', 'bench', now())",
                        [
                            (
                                "key_" + secrets.token_hex(16),
                                tenant["id"],
                                hmac.new(pepper, r.encode(), hashlib.sha256).digest(),
                                r[:16],
                                r[-4:],
                            )
                            for r in raws
                        ],
                    )
                    out.write("\n".join(raws) + "\n")
        connection.commit()
    return {"client_id": client["client_id"], "client_secret": client["client_secret"], "api_key": key["key"]}


def one_core(work: Any, seconds: float = 2.0) -> float:
    """Calls of ``work`` per second on one core."""
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        work()
        done += 1
    return done / (time.perf_counter() - started)


def ceilings() -> dict[str, float]:
    """What two cores can do at most: RS256 signatures (``cryptography``, as the service signs)
    and bcrypt checks at cost 12, each measured on one core and doubled."""
    import bcrypt
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    message = b"x" * 400  # about a token's signing input
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(12))
    return {
        "rs256": 2 * one_core(lambda: key.sign(message, padding.PKCS1v15(), hashes.SHA256())),
        "bcrypt": 2 * one_core(lambda: bcrypt.checkpw(PASSWORD.encode(), hashed), seconds=3.0),
    }


def scratch_database(tag: str) -> str:
    name = f"outter_bench_{tag}_{os.getpid()}"
    psql(f"CREATE DATABASE {name}")
    return name


def production_env(database: str, keys: Path) -> dict[str, str]:
    return {
        **os.environ,
        "OUTTER_ENV": "production",
        "OUTTER_ISSUER": "https://auth.outter.test",
        "OUTTER_SECRET_KEY": secrets.token_urlsafe(32),
        "OUTTER_API_KEY_PEPPER": secrets.token_urlsafe(32),
        "OUTTER_DATABASE_URL": f"{PG}/{database}",
        "OUTTER_KEYS_DIR": str(keys),
        "OUTTER_REDIS_URL": REDIS_URL,
        "OUTTER_CLIENT_TOKEN_REUSE": "0",
        # Limits stay on (their cost is part of every figure) but out of reach of wrk's
        # thousands of logins from one address; bench/rate_limits.py measures them.
        "OUTTER_RATE_LIMIT_LOGIN_IP": "1000000/minute",
        "OUTTER_RATE_LIMIT_LOGIN_ACCOUNT": "1000000/minute",
        "OUTTER_RATE_LIMIT_TOKEN_IP": "1000000/minute",
        "OUTTER_RATE_LIMIT_TOKEN_ACCOUNT": "1000000/minute",
        "OUTTER_LOCKOUT_THRESHOLD": "0",
    }


class Requests:
    """The request shapes of the run, for one seeded service."""

    def __init__(self, base: str, creds: dict[str, str]) -> None:
        login = json.dumps({"email": "owner@bench.test", "password": PASSWORD})
        jwt = http_json(f"{base}/api/auth/login", login.encode(), {"Content-Type": "application/json"})["access_token"]
        key = {"header_name": "X-API-Key", "header_value": creds["api_key"]}
        self.shapes: dict[str, dict[str, str]] = {
            "healthz": {"path": "/healthz"},
            "verify (key, cached)": {"method": "POST", "path": "/api/auth/api-keys/verify", **key},
            "check (key, cached)": {"path": "/api/auth/gateway/check", **key},
            "check (JWT)": {"path": "/api/auth/gateway/check", "auth": f"Bearer {jwt}"},
            "jwks": {"path": "/.well-known/jwks.json"},
            "token (client_credentials, a signature each)": {
                "method": "POST",
                "path": "/oauth/token",
                "body": "grant_type=client_credentials",
                "content_type": "application/x-www-form-urlencoded",
                "auth": basic(creds["client_id"], creds["client_secret"]),
            },
            "login (bcrypt 12)": {
                "method": "POST",
                "path": "/api/auth/login",
                "body": login,
                "content_type": "application/json",
            },
        }


SERVER_ROWS = (
    "verify (key, cached)",
    "check (key, cached)",
    "check (JWT)",
    "jwks",
    "token (client_credentials, a signature each)",
)


def _exit_on_signal(number: int, _frame: Any) -> None:
    raise SystemExit(f"stopped by signal {number}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--keys", type=int, default=100_000, help="keys in the database for the miss run")
    parser.add_argument("--no-peer", action="store_true", help="skip node-oidc-provider")
    parser.add_argument("--before", help="a git commit to measure side by side (e.g. the start of a change)")
    parser.add_argument("--servers", default="", help=f"also compare servers: a comma list of {', '.join(SERVERS)}")
    args = parser.parse_args()
    for tool in ("wrk", "psql") + (() if args.no_peer else ("node", "npm")):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed (apt-get install wrk postgresql-client nodejs npm)")

    # A TERM or HUP (a closed terminal, a timeout) ends the run through the clean-up below:
    # servers stopped, the worktree removed, the scratch databases dropped.
    for stop in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(stop, _exit_on_signal)
    workdir = Path(tempfile.mkdtemp(prefix="outter-bench-"))
    databases: list[str] = []
    services: list[Service] = []
    peer = None
    worktree = workdir / "before"
    try:
        limits = ceilings()

        def up(env: dict[str, str], tag: str, server: str = "sync", folder: Path = REPO) -> Service:
            service = Service(env, free_port(), str(workdir / f"{tag}.log"), server, folder)
            services.append(service)
            return service

        def down(service: Service) -> None:
            service.stop()
            services.remove(service)

        databases.append(scratch_database("now"))
        env = production_env(databases[-1], workdir / "keys")
        creds = seed_by_cli(REPO, env, workdir, args.keys)
        service = up(env, "now")
        shapes = Requests(f"http://127.0.0.1:{service.port}", creds).shapes
        peer_token = {
            "method": "POST",
            "path": "/token",
            "body": "grant_type=client_credentials",
            "content_type": "application/x-www-form-urlencoded",
        }
        if not args.no_peer:
            peer_port, peer_secret = free_port(), secrets.token_urlsafe(32)
            peer = start_peer(peer_port, "bench", peer_secret)
            peer_token["auth"] = basic("bench", peer_secret)

        rows: dict[str, dict] = {"healthz": measure_alone(service.port, args, **shapes["healthz"])}
        for name in (*SERVER_ROWS, "login (bcrypt 12)"):
            rows[name] = measure(service.port, args, **shapes[name])
            if name.startswith("token") and peer is not None:  # right after ours: the same state of the machine
                rows["peer: oidc-provider token"] = measure_alone(peer_port, args, **peer_token)
        rss = service.worker_rss_mb()
        down(service)

        reuse = up({**env, "OUTTER_CLIENT_TOKEN_REUSE": "30"}, "reuse")
        rows["token (client_credentials, reuse on)"] = measure(reuse.port, args, **shapes[SERVER_ROWS[-1]])
        if peer is not None:
            rows["peer: oidc-provider token (again)"] = measure_alone(peer_port, args, **peer_token)
        down(reuse)

        miss = up({**env, "OUTTER_API_KEY_CACHE_TTL": "0"}, "miss")
        for count, name in ((100, "keys100.txt"), (args.keys, "keysmany.txt")):
            rows[f"verify (miss, {count} keys)"] = measure(
                miss.port, args, method="POST", path="/api/auth/api-keys/verify", keys_file=str(workdir / name)
            )
        down(miss)

        compared: dict[str, dict[str, dict]] = {}
        if args.before:
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "add", "--detach", str(worktree), args.before],
                check=True,
                capture_output=True,
            )
            databases.append(scratch_database("before"))
            old_env = production_env(databases[-1], workdir / "keys-before")
            (workdir / "before-seed").mkdir()
            old_creds = seed_by_cli(worktree, old_env, workdir / "before-seed", 1)
            pair = {"before": up(old_env, "before", folder=worktree), "now": up(env, "now-again")}
            pair_shapes = {
                "before": Requests(f"http://127.0.0.1:{pair['before'].port}", old_creds).shapes,
                "now": shapes,
            }
            for version in ("before", "now"):
                compared[version] = {
                    name: measure(pair[version].port, args, **pair_shapes[version][name]) for name in SERVER_ROWS
                }
            for service in pair.values():
                down(service)

        servers: dict[str, dict[str, dict]] = {}
        for kind in [k for k in args.servers.split(",") if k]:
            if kind not in SERVERS:
                raise SystemExit(f"unknown server {kind!r}: one of {', '.join(SERVERS)}")
            served = up(env, f"server-{kind}", server=kind)
            servers[kind] = {"healthz": measure_alone(served.port, args, **shapes["healthz"])}
            for name in SERVER_ROWS:
                servers[kind][name] = measure(served.port, args, **shapes[name])
            down(served)

        report(rows, rss, limits, compared, servers, args)
    finally:
        for service in services:
            service.stop()
        if peer is not None:
            os.killpg(peer.pid, signal.SIGTERM)
        for database in databases:
            psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        if worktree.exists():
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(worktree)], check=False)
        shutil.rmtree(workdir, ignore_errors=True)


def _table(rows: dict[str, dict]) -> None:
    print("| endpoint | req/s | p50 ms | p99 ms | × healthz | errors |\n|---|---:|---:|---:|---:|---:|")
    for name, row in rows.items():
        ratio_text = f"{row['rps'] / row['baseline_rps']:.2f}" if "baseline_rps" in row else "—"
        print(
            f"| {name} | {row['rps']:.0f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | "
            f"{ratio_text} | {row['errors'] + row['non2xx']} |"
        )


def report(
    rows: dict[str, dict],
    rss: list[float],
    limits: dict[str, float],
    compared: dict[str, dict[str, dict]],
    servers: dict[str, dict[str, dict]],
    args: argparse.Namespace,
) -> None:
    machine = f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores"
    print(f"\nmachine: {machine}, Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}")
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s after {args.warmup}s warm-up; "
        "gunicorn 2 sync workers, production config, PostgreSQL + Redis; node-oidc-provider in 2 processes\n"
        "× healthz: against GET /healthz of the same service measured just before the endpoint\n"
        f"ceilings (two cores, measured in this run): RS256 signatures {limits['rs256']:.0f}/s, "
        f"bcrypt checks at cost 12 {limits['bcrypt']:.2f}/s\n"
    )
    _table(rows)
    print(f"\nworker RSS after the run: {', '.join(f'{x:.0f} MB' for x in rss)}\n")

    def vs_healthz(name: str) -> float:
        return float(rows[name]["rps"] / rows[name]["baseline_rps"])

    def ratio(a: str, b: str) -> float:
        return float(rows[a]["rps"] / rows[b]["rps"])

    fresh = "token (client_credentials, a signature each)"
    many = f"verify (miss, {args.keys} keys)"
    goals = [
        ("verify (key, cached) ≥ 0.95 × healthz", vs_healthz("verify (key, cached)"), 0.95, ""),
        ("check (key, cached) ≥ 0.95 × healthz", vs_healthz("check (key, cached)"), 0.95, ""),
        (f"verify, misses at {args.keys} keys ≥ 0.9 × at 100 keys", ratio(many, "verify (miss, 100 keys)"), 0.9, ""),
        ("fresh tokens ≥ 0.5 × (2 cores' RS256 signatures/s)", rows[fresh]["rps"] / limits["rs256"], 0.5, ""),
        (
            "sign-ins (JSON login, bcrypt 12) ≥ 0.9 × the bcrypt ceiling",
            rows["login (bcrypt 12)"]["rps"] / limits["bcrypt"],
            0.9,
            "",
        ),
    ]
    if "peer: oidc-provider token" in rows:
        goals.insert(
            0, ("token, a signature each ≥ 1.0 × oidc-provider", ratio(fresh, "peer: oidc-provider token"), 1.0, "")
        )
        goals.insert(
            1,
            (
                "token, reuse on ≥ 1.5 × oidc-provider",
                ratio("token (client_credentials, reuse on)", "peer: oidc-provider token (again)"),
                1.5,
                "",
            ),
        )
    print("| goal | measured | met |\n|---|---:|---|")
    for name, value, target, _ in goals:
        print(f"| {name} | {value:.2f} | {'yes' if value >= target else 'NO'} |")
    for name in ("verify (key, cached)", "check (key, cached)"):
        p99 = rows[name]["p99_ms"]
        print(f"| p99 of {name.split(' ')[0]} ≤ 10 ms | {p99:.2f} ms | {'yes' if p99 <= 10 else 'NO'} |")
    print(f"| worker RSS ≤ 100 MB | {max(rss):.0f} MB | {'yes' if max(rss) <= 100 else 'NO'} |")

    if compared:
        print(
            f"\nbefore ({args.before}) and now, one after the other on the same machine (each × its own healthz"
            " is not taken here: req/s side by side, ratio now ÷ before)\n"
        )
        print(
            "| endpoint | before req/s | now req/s | now ÷ before | p99 before | p99 now |\n"
            "|---|---:|---:|---:|---:|---:|"
        )
        for name in SERVER_ROWS:
            old, new = compared["before"][name], compared["now"][name]
            print(
                f"| {name} | {old['rps']:.0f} | {new['rps']:.0f} | {new['rps'] / old['rps']:.2f} | "
                f"{old['p99_ms']:.2f} | {new['p99_ms']:.2f} |"
            )
    if servers:
        print("\nservers, 2 workers each, the same code and database\n")
        kinds = list(servers)
        print("| endpoint | " + " | ".join(f"{k} req/s (p99 ms)" for k in kinds) + " |")
        print("|---|" + "---:|" * len(kinds))
        for name in ("healthz", *SERVER_ROWS):
            cells = [f"{servers[k][name]['rps']:.0f} ({servers[k][name]['p99_ms']:.1f})" for k in kinds]
            print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
