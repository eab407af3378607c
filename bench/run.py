#!/usr/bin/env python3
"""Outter Auth benchmark: one command, figures side by side in one run.

Starts the service under gunicorn (production config, 2 workers) on a scratch
PostgreSQL database, and node-oidc-provider (v9) as the peer token endpoint, then
drives each endpoint with wrk (16 connections, warm-up, fixed duration) and prints
req/s, p50, p99, worker RSS and the ratios that are our goals. Ratios are taken
against ``GET /healthz`` of the same run, because the machine is noisy.

    python bench/run.py [--duration 10] [--warmup 3] [--keys 100000] [--no-peer]

Needs: wrk, node/npm (the peer is installed into bench/peer on first use),
PostgreSQL at 127.0.0.1:5432 (trust), and the package installed (pip install -e .).
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

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
LUA = BENCH / "wrk" / "request.lua"
PG = "postgresql+psycopg://postgres@127.0.0.1:5432"
PASSWORD = "benchmark passphrase"
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


class Service:
    """gunicorn serving wsgi:app with the given environment."""

    def __init__(self, env: dict[str, str], port: int, log: str) -> None:
        self.port = port
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(REPO / "gunicorn.conf.py"), "wsgi:app"],
            cwd=REPO,
            env={**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "2", "GUNICORN_ACCESSLOG": ""},
            stdout=subprocess.DEVNULL,
            stderr=open(log, "w"),  # noqa: SIM115 (lives as long as the process)
            start_new_session=True,
        )
        try:
            wait_http(f"http://127.0.0.1:{port}/healthz")
        except SystemExit:
            raise SystemExit(f"gunicorn did not start:\n{Path(log).read_text()[-2000:]}") from None

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--keys", type=int, default=100_000, help="keys in the database for the miss run")
    parser.add_argument("--no-peer", action="store_true", help="skip node-oidc-provider")
    args = parser.parse_args()
    for tool in ("wrk", "psql") + (() if args.no_peer else ("node", "npm")):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is needed (apt-get install wrk postgresql-client nodejs npm)")

    workdir = Path(tempfile.mkdtemp(prefix="outter-bench-"))
    database = f"outter_bench_{os.getpid()}"
    psql(f"CREATE DATABASE {database}")
    env = {
        **os.environ,
        "OUTTER_ENV": "production",
        "OUTTER_ISSUER": "https://auth.outter.test",
        "OUTTER_SECRET_KEY": secrets.token_urlsafe(32),
        "OUTTER_API_KEY_PEPPER": secrets.token_urlsafe(32),
        "OUTTER_DATABASE_URL": f"{PG}/{database}",
        "OUTTER_KEYS_DIR": str(workdir / "keys"),
        # Limits stay on (their cost is part of every figure) but out of reach of wrk's
        # thousands of logins from one address; bench/rate_limits.py measures them.
        "OUTTER_RATE_LIMIT_LOGIN_IP": "1000000/minute",
        "OUTTER_RATE_LIMIT_LOGIN_ACCOUNT": "1000000/minute",
        "OUTTER_RATE_LIMIT_TOKEN_IP": "1000000/minute",
        "OUTTER_RATE_LIMIT_TOKEN_ACCOUNT": "1000000/minute",
    }
    services: list[Service] = []
    peer = None
    try:
        subprocess.run([OUTTER_AUTH, "db", "upgrade"], cwd=REPO, env=env, check=True, capture_output=True)
        subprocess.run([OUTTER_AUTH, "keys", "generate"], cwd=REPO, env=env, check=True, capture_output=True)
        creds = seed(env, workdir, args.keys)
        port = free_port()
        service = Service(env, port, str(workdir / "gunicorn.log"))
        services.append(service)
        base = f"http://127.0.0.1:{port}"
        login = json.dumps({"email": "owner@bench.test", "password": PASSWORD}).encode()
        jwt = http_json(f"{base}/api/auth/login", login, {"Content-Type": "application/json"})["access_token"]
        auth = basic(creds["client_id"], creds["client_secret"])

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

        token = {
            "method": "POST",
            "path": "/oauth/token",
            "body": "grant_type=client_credentials",
            "content_type": "application/x-www-form-urlencoded",
            "auth": auth,
        }
        rows: dict[str, dict] = {}
        rows["healthz"] = measure_alone(port, args, path="/healthz")
        rows["verify (key, cached)"] = measure(
            port,
            args,
            method="POST",
            path="/api/auth/api-keys/verify",
            header_name="X-API-Key",
            header_value=creds["api_key"],
        )
        rows["check (key, cached)"] = measure(
            port, args, path="/api/auth/gateway/check", header_name="X-API-Key", header_value=creds["api_key"]
        )
        rows["check (JWT)"] = measure(port, args, path="/api/auth/gateway/check", auth=f"Bearer {jwt}")
        rows["jwks"] = measure(port, args, path="/.well-known/jwks.json")
        rows["token (client_credentials)"] = measure(port, args, **token)
        if peer is not None:  # right after ours: the same state of the machine
            rows["peer: oidc-provider token"] = measure_alone(peer_port, args, **peer_token)
        rows["login (bcrypt 12)"] = measure(
            port, args, method="POST", path="/api/auth/login", body=login.decode(), content_type="application/json"
        )
        rss = service.worker_rss_mb()
        service.stop()
        services.remove(service)

        # The token endpoint signing every token (client_credentials reuse off), next to the peer again.
        signing = Service({**env, "OUTTER_CLIENT_TOKEN_REUSE": "0"}, free_port(), str(workdir / "gunicorn-sign.log"))
        services.append(signing)
        rows["token (client_credentials, no reuse)"] = measure(signing.port, args, **token)
        if peer is not None:
            rows["peer: oidc-provider token (again)"] = measure_alone(peer_port, args, **peer_token)
        signing.stop()
        services.remove(signing)

        # No API-key cache: every verify is a miss (a random key of 100 vs of many per request).
        miss = Service({**env, "OUTTER_API_KEY_CACHE_TTL": "0"}, free_port(), str(workdir / "gunicorn-miss.log"))
        services.append(miss)
        for count, name in ((100, "keys100.txt"), (args.keys, "keysmany.txt")):
            rows[f"verify (miss, {count} keys)"] = measure(
                miss.port, args, method="POST", path="/api/auth/api-keys/verify", keys_file=str(workdir / name)
            )
        miss.stop()
        services.remove(miss)

        report(rows, rss, args)
    finally:
        for service in services:
            service.stop()
        if peer is not None:
            os.killpg(peer.pid, signal.SIGTERM)
        psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        shutil.rmtree(workdir, ignore_errors=True)


def report(rows: dict[str, dict], rss: list[float], args: argparse.Namespace) -> None:
    machine = f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores"
    print(f"\nmachine: {machine}, Python {platform.python_version()}")
    print(
        f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s after {args.warmup}s warm-up; "
        "gunicorn 2 sync workers, production config, PostgreSQL; node-oidc-provider in 2 processes\n"
        "× healthz: against GET /healthz of the same service measured just before the endpoint\n"
    )
    print("| endpoint | req/s | p50 ms | p99 ms | × healthz | errors |\n|---|---:|---:|---:|---:|---:|")
    for name, row in rows.items():
        ratio_text = f"{row['rps'] / row['baseline_rps']:.2f}" if "baseline_rps" in row else "—"
        print(
            f"| {name} | {row['rps']:.0f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | "
            f"{ratio_text} | {row['errors'] + row['non2xx']} |"
        )
    print(f"\nworker RSS after the run: {', '.join(f'{x:.0f} MB' for x in rss)}\n")

    def vs_healthz(name: str) -> float:
        return float(rows[name]["rps"] / rows[name]["baseline_rps"])

    def ratio(a: str, b: str) -> float:
        return float(rows[a]["rps"] / rows[b]["rps"])

    many = f"verify (miss, {args.keys} keys)"
    goals = [
        ("verify (key, cached) ≥ 0.85 × healthz", vs_healthz("verify (key, cached)"), 0.85),
        ("check (key, cached) ≥ 0.85 × healthz", vs_healthz("check (key, cached)"), 0.85),
        ("check (JWT) ≥ 0.8 × healthz", vs_healthz("check (JWT)"), 0.8),
        ("jwks ≥ 0.9 × healthz", vs_healthz("jwks"), 0.9),
        (f"verify, misses at {args.keys} keys ≥ 0.9 × at 100 keys", ratio(many, "verify (miss, 100 keys)"), 0.9),
    ]
    if "peer: oidc-provider token" in rows:
        goals.append(
            ("token ≥ 1.0 × oidc-provider", ratio("token (client_credentials)", "peer: oidc-provider token"), 1.0)
        )
        goals.append(
            (
                "(the same, signing every token: reuse off)",
                ratio("token (client_credentials, no reuse)", "peer: oidc-provider token (again)"),
                1.0,
            )
        )
    print("| goal | measured | met |\n|---|---:|---|")
    for name, value, target in goals:
        print(f"| {name} | {value:.2f} | {'yes' if value >= target else 'NO'} |")
    p99 = rows["verify (key, cached)"]["p99_ms"]
    print(f"| p99 of verify ≤ 10 ms | {p99:.2f} ms | {'yes' if p99 <= 10 else 'NO'} |")
    print(f"| worker RSS ≤ 150 MB | {max(rss):.0f} MB | {'yes' if max(rss) <= 150 else 'NO'} |")


if __name__ == "__main__":
    main()
