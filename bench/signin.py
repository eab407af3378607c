#!/usr/bin/env python3
"""Browser sign-ins per second, against what bcrypt allows (SPEC §11, issue 11).

One full sign-in is what a browser and a client app do, with a fresh browser each time (no
single sign-on): ``GET /oauth/authorize`` → the login page → ``POST`` email and password (one
bcrypt check at cost 12), answered with the redirect to the client and its code → the client
trades the code (PKCE verifier, client secret) at ``/oauth/token`` for tokens and an ID
token. A first-party client, so no consent page.

A sign-in is bcrypt-bound, so the figure to judge is the ratio to the **bcrypt ceiling**: two
workers on two cores can check at most 2 × (one core's bcrypt checks per second at cost 12),
measured in this same run just before the load. Everything else a sign-in does (four HTTP
requests, the database, two RSA signatures) is what separates the two.

Service: gunicorn in production configuration with 2 sync workers on a scratch PostgreSQL
database (``OUTTER_ENV=production``, ``OUTTER_BCRYPT_ROUNDS=12``, rate limits and lockout on).

    python bench/signin.py [--duration 20] [--warmup 4] [--browsers 4] [--users 8]

Needs PostgreSQL at 127.0.0.1:5432 (trust) and the package installed (pip install -e .).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import json
import os
import re
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import bcrypt
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402 (the shared helpers of bench/run.py)

ROUNDS = 12  # --rounds 4 shows what a sign-in costs besides bcrypt
REDIRECT = "http://127.0.0.1:9/callback"  # never fetched: the code is read from the Location
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
ACTION = re.compile(r'<form class="form" method="post" action="([^"]+)"')


def _checks(seconds_and_rounds: tuple[float, int]) -> float:
    return bcrypt_checks_per_second(*seconds_and_rounds)


def bcrypt_checks_in_two_processes(seconds: float = 3.0, rounds: int = ROUNDS) -> float:
    """bcrypt checks per second of two processes at once: what two workers get from this
    machine right now (on a shared machine, less than twice one core)."""
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(2) as pool:
        return float(sum(pool.map(_checks, [(seconds, rounds)] * 2)))


def bcrypt_checks_per_second(seconds: float = 3.0, rounds: int = ROUNDS) -> float:
    """One core's bcrypt checks per second at ``rounds`` (what a worker does per sign-in)."""
    hashed = bcrypt.hashpw(b"benchmark passphrase", bcrypt.gensalt(rounds))
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        bcrypt.checkpw(b"benchmark passphrase", hashed)
        done += 1
    return done / (time.perf_counter() - start)


def sign_in(base: str, client_id: str, secret: str, email: str) -> None:
    """One sign-in with a fresh browser; raises on anything unexpected."""
    browser = requests.Session()
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state = secrets.token_urlsafe(12)
    query = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid email",
        "state": state,
        "nonce": secrets.token_urlsafe(12),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    to_login = browser.get(f"{base}/oauth/authorize?{urlencode(query)}", allow_redirects=False, timeout=30)
    page = browser.get(urljoin(base, to_login.headers["Location"]), timeout=30)
    action = html.unescape(ACTION.search(page.text).group(1))  # type: ignore[union-attr]
    csrf = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    signed_in = browser.post(
        urljoin(base, action),
        data={"csrf_token": csrf, "email": email, "password": bench.PASSWORD},
        allow_redirects=False,
        timeout=30,
    )
    assert signed_in.status_code == 302, (signed_in.status_code, signed_in.text[:300])
    answer = parse_qs(urlsplit(signed_in.headers["Location"]).query)  # straight back to the client
    assert answer["state"] == [state] and "iss" in answer, answer
    token = requests.post(
        f"{base}/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": answer["code"][0],
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=(client_id, secret),
        timeout=30,
    )
    assert token.status_code == 200 and "id_token" in token.json(), (token.status_code, token.text[:300])


def load(base: str, client: dict[str, str], emails: list[str], browsers: int, seconds: float) -> dict:
    """``browsers`` threads signing in back to back for ``seconds``."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def browse(index: int) -> None:
        n = 0
        while time.perf_counter() < stop:
            email = emails[(index + n * browsers) % len(emails)]
            n += 1
            began = time.perf_counter()
            try:
                sign_in(base, client["client_id"], client["client_secret"], email)
            except Exception as error:  # noqa: BLE001 - counted and shown
                with lock:
                    errors.append(f"{type(error).__name__}: {error}"[:200])
                continue
            with lock:
                latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    threads = [threading.Thread(target=browse, args=(i,)) for i in range(browsers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    ordered = sorted(latencies) or [0.0]
    return {
        "sign_ins": len(latencies),
        "per_second": len(latencies) / elapsed,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=4)
    parser.add_argument("--browsers", type=int, default=4, help="concurrent browsers (2 per worker by default)")
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="bcrypt cost (12, as in production)")
    args = parser.parse_args()
    if shutil.which("psql") is None:
        raise SystemExit("psql is needed (apt-get install postgresql-client)")

    workdir = Path(tempfile.mkdtemp(prefix="outter-bench-signin-"))
    database = f"outter_bench_signin_{os.getpid()}"
    port = bench.free_port()
    base = f"http://127.0.0.1:{port}"
    bench.psql(f"CREATE DATABASE {database}")
    env = {
        **os.environ,
        "OUTTER_ENV": "production",
        # The issuer is the address the browsers use: the cookies are then plain http ones.
        "OUTTER_ISSUER": base,
        "OUTTER_SECRET_KEY": secrets.token_urlsafe(32),
        "OUTTER_API_KEY_PEPPER": secrets.token_urlsafe(32),
        "OUTTER_DATABASE_URL": f"{bench.PG}/{database}",
        "OUTTER_KEYS_DIR": str(workdir / "keys"),
        "OUTTER_BCRYPT_ROUNDS": str(args.rounds),
    }
    service = None
    try:
        run = bench.subprocess.run
        run([bench.OUTTER_AUTH, "db", "upgrade"], cwd=bench.REPO, env=env, check=True, capture_output=True)
        run([bench.OUTTER_AUTH, "keys", "generate"], cwd=bench.REPO, env=env, check=True, capture_output=True)
        run([bench.OUTTER_AUTH, "tenants", "create", "acme"], cwd=bench.REPO, env=env, check=True, capture_output=True)
        emails = [f"user{i}@acme.test" for i in range(args.users)]
        for email in emails:
            run(
                [
                    bench.OUTTER_AUTH,
                    "users",
                    "create",
                    email,
                    "--tenant",
                    "acme",
                    "--role",
                    "member",
                    "--password-stdin",
                ],
                cwd=bench.REPO,
                env=env,
                input=bench.PASSWORD,
                text=True,
                check=True,
                capture_output=True,
            )
        created = run(
            [
                bench.OUTTER_AUTH, "clients", "create", "Bench app", "--tenant", "acme", "--first-party",
                "--grant-type", "authorization_code", "--scope", "openid email", "--redirect-uri", REDIRECT, "--json",
            ],
            cwd=bench.REPO, env=env, check=True, capture_output=True, text=True,
        )  # fmt: skip
        client = json.loads(created.stdout)
        service = bench.Service(env, port, str(workdir / "gunicorn.log"))

        sign_in(base, client["client_id"], client["client_secret"], emails[0])  # the path works at all
        before = bcrypt_checks_per_second(rounds=args.rounds)
        load(base, client, emails, args.browsers, args.warmup)
        result = load(base, client, emails, args.browsers, args.duration)
        after = bcrypt_checks_per_second(rounds=args.rounds)
        two = bcrypt_checks_in_two_processes(rounds=args.rounds)
        report(args, result, (before + after) / 2, two)
    finally:
        if service is not None:
            service.stop()
        bench.psql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        shutil.rmtree(workdir, ignore_errors=True)


def report(args: argparse.Namespace, result: dict, per_core: float, two_processes: float) -> None:
    ceiling = 2 * per_core
    print(
        f"\n{args.browsers} browsers for {args.duration:.0f}s after {args.warmup:.0f}s warm-up; "
        f"gunicorn 2 sync workers, PostgreSQL, bcrypt cost {args.rounds}\n"
    )
    print("| figure | value |\n|---|---:|")
    print(f"| sign-ins (authorize → login → code → token) | {result['sign_ins']} |")
    print(f"| sign-ins per second | {result['per_second']:.2f} |")
    print(f"| p50 / p99 of one sign-in, ms | {result['p50_ms']:.0f} / {result['p99_ms']:.0f} |")
    print(f"| bcrypt checks per second, one core (cost {args.rounds}; mean of before and after) | {per_core:.2f} |")
    print(f"| bcrypt ceiling (2 workers × one core) | {ceiling:.2f} |")
    print(f"| **sign-ins ÷ bcrypt ceiling** | **{result['per_second'] / ceiling:.2f}** |")
    print(f"| bcrypt checks per second of two processes at once (this machine, now) | {two_processes:.2f} |")
    print(f"| sign-ins ÷ that | {result['per_second'] / two_processes:.2f} |")
    print(f"| errors | {len(result['errors'])} |")
    for error in result["errors"][:5]:
        print(f"  {error}")


if __name__ == "__main__":
    main()
