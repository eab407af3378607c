"""Chaos tests (issue 16, SPEC section 7 "Outages"): the service under a bounded load while its
database, its Redis or its own processes fail.

Everything is real and private to this module: a PostgreSQL cluster and a Redis server started
for it (``chaos.py``; never the shared ones, which other tests use), the service as production
runs it (``OUTTER_ENV=production``, gunicorn with two sync workers, the repository's
gunicorn.conf.py), and ``CLIENTS`` client threads sending requests one after the other. Each test
prints what it measured and asserts the issue's figures; a missed goal reports all of them.

Slow (the database outage alone lasts ``CHAOS_DB_OUTAGE_SECONDS``, 60 s by default, as in the
issue; set it lower to try things locally). Marked ``chaos``: ``pytest -m "not chaos"`` leaves
them out of a quick local run; CI runs them with everything else.
"""

from __future__ import annotations

import os
import secrets
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests

from outter_auth.services.invalidation import CHANNEL
from tests.factories import PASSWORD
from tests.integration.chaos import (
    ACCESS_LOG_FORMAT,
    Answer,
    Figures,
    Load,
    PrivatePostgres,
    PrivateRedis,
    Probe,
    between,
    children,
    in_flight,
    latency,
    of_kind,
    percent,
    private_postgres,
    private_redis,
    sleep_until,
    tally,
    until,
    wait_until_every_worker_answered,
)
from tests.integration.servers import ISSUER, Service, gunicorn, outter_cli, service_env

pytestmark = pytest.mark.chaos

WORKERS = 2
EMAIL = "owner@acme.test"
DATABASE = "outter_chaos"
VERIFY = "/api/auth/api-keys/verify"
CHECK = "/api/auth/gateway/check"
READYZ = "/readyz"
ANSWERS = {200, 401, 429, 503}  # the only answers the gateway may get during an outage
REFUSED = (401, 429)  # 429 is only ever given to a credential already refused

OUTAGE = float(os.environ.get("CHAOS_DB_OUTAGE_SECONDS", "60"))  # the issue's figure: 60 s
STALE_GOAL = 0.99  # of the verifies of recently seen keys answer 200 during the outage
RECOVERY_BOUND = 1.0  # seconds from the database accepting connections to normal answers
REVOCATION_BOUND = 1.0  # SPEC section 7, with Redis: every worker refuses a revoked key within 1 s
REDIS_TEST_CACHE_TTL = 10  # the key cache TTL of the Redis test: the bound without Redis
KILL_WINDOW = 5.0  # seconds after a worker is killed in which failures are counted
KILL_GOAL = 0.01  # at most this share of the requests of that window may fail


# -- the backing services, the service, its owner -------------------------------------------------


@dataclass
class Backends:
    postgres: PrivatePostgres
    redis: PrivateRedis
    env: dict[str, str]  # the service's environment: production, on the private servers


@pytest.fixture(scope="module")
def backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backends]:
    root = tmp_path_factory.mktemp("chaos")
    with private_postgres(keep_log=root / "postgres.log") as postgres, private_redis(root) as redis_server:
        with psycopg.connect(postgres.dsn(), autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {DATABASE}")
        env = service_env(
            postgres.url(DATABASE),
            root / "keys",
            OUTTER_ENV="production",
            OUTTER_ISSUER=ISSUER,
            OUTTER_SECRET_KEY=secrets.token_urlsafe(32),
            OUTTER_API_KEY_PEPPER=secrets.token_urlsafe(32),
            OUTTER_REDIS_URL=redis_server.url,
        )
        outter_cli(env, "db", "upgrade")
        outter_cli(env, "keys", "generate")
        outter_cli(env, "tenants", "create", "acme")
        outter_cli(
            env, "users", "create", EMAIL, "--tenant", "acme", "--role", "owner", "--password-stdin", stdin=PASSWORD
        )
        yield Backends(postgres, redis_server, env)


@pytest.fixture
def up(backends: Backends) -> Backends:
    """Both backing servers running, whatever a failed test before left behind."""
    if not backends.postgres.accepting():
        backends.postgres.start()
    backends.redis.ensure_running()
    return backends


@contextmanager
def service(backends: Backends, tmp_path: Path, **settings: str) -> Iterator[Service]:
    """The service as production runs it, two workers, every request's id in the access log."""
    env = {**backends.env, **settings}
    with gunicorn(env, tmp_path / "service", workers=WORKERS, access_log_format=ACCESS_LOG_FORMAT) as running:
        # gunicorn answers as soon as one worker is up; the tests need all of them.
        until(lambda: len(workers_of(running)) == WORKERS, 60, f"gunicorn to start {WORKERS} workers")
        yield running


class Owner:
    """The owner of tenant acme, logged in through the service's own API."""

    def __init__(self, service: Service) -> None:
        self.base = service.base
        response = login(service)
        assert response.status_code == 200, response.text
        self.token = response.json()["access_token"]
        self.headers = {"Authorization": f"Bearer {self.token}"}

    def create_key(self, name: str) -> dict[str, Any]:
        response = requests.post(
            self.base + "/api/auth/api-keys",
            json={"name": name, "scopes": ["content:read"]},
            headers=self.headers,
            timeout=30,
        )
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    def revoke(self, key_id: str) -> Revocation:
        """Revoke through the API (the service publishes it)."""
        asked = time.monotonic()
        response = requests.delete(f"{self.base}/api/auth/api-keys/{key_id}", headers=self.headers, timeout=30)
        assert response.status_code == 204, response.text
        return Revocation(asked, time.monotonic())


@dataclass(frozen=True)
class Revocation:
    """When the DELETE was sent and when it returned. The bounds of propagation over Redis
    count from ``asked`` (the caller's wait for the DELETE is part of them); the cache TTL
    counts from ``done``: any entry a worker holds was read before then."""

    asked: float
    done: float

    @property
    def took(self) -> str:
        return f"the DELETE took {self.done - self.asked:.2f} s"


def login(service: Service) -> requests.Response:
    return requests.post(service.base + "/api/auth/login", json={"email": EMAIL, "password": PASSWORD}, timeout=30)


def key_probes(kind: str, name: str, key: str) -> list[Probe]:
    """A key checked both ways a gateway checks keys: ``verify`` and ``check``."""
    return [Probe(kind, f"{name}-verify", "POST", VERIFY, key), Probe(kind, f"{name}-check", "GET", CHECK, key)]


# What a worker logs each time its invalidation subscription fails to reach Redis
# (outter_auth/services/invalidation.py): the Redis test restarts Redis right after one.
RECONNECTION_FAILED = "invalidation channel down"


def reconnection_failures(service: Service) -> int:
    return service.proc.log.read_text(errors="replace").count(RECONNECTION_FAILED)


def workers_of(service: Service) -> set[int]:
    return children(service.proc.popen.pid)


def failed(answer: Answer) -> bool:
    """A failed request: no answer at all, or a 5xx."""
    return answer.status is None or answer.status >= 500


def unexpected(answers: list[Answer]) -> list[Answer]:
    return [a for a in answers if a.status not in ANSWERS]


def last_acceptance(answers: list[Answer], since: float) -> dict[str, float]:
    """Per worker: how long after ``since`` the last accepted request was sent (0 if none was)."""
    last: dict[str, float] = {}
    for answer in answers:
        if answer.status is None:
            continue
        pid = answer.pid or "?"
        last.setdefault(pid, 0.0)
        if answer.status == 200 and answer.sent >= since:
            last[pid] = max(last[pid], answer.sent - since)
    return last


def per_worker(delays: dict[str, float]) -> str:
    return ", ".join(f"worker {pid}: +{delay:.2f} s" for pid, delay in sorted(delays.items())) or "no requests"


def within(timeout: float, wait: Any, *args: Any, **kwargs: Any) -> float | None:
    """``wait(...)``'s answer, or None if it gave up: a missed goal, reported with the others."""
    try:
        answered: float = wait(*args, timeout=timeout, **kwargs)
        return answered
    except TimeoutError:
        return None


# -- 1. the database stops for a minute ----------------------------------------------------------


def test_a_database_outage_under_load_keeps_recently_seen_keys_verifying(up: Backends, tmp_path: Path):
    """SPEC section 7, stale-if-error: while PostgreSQL is down, keys verified before keep
    verifying (verify and check), a revoked key stays refused, any other key is 503 with
    Retry-After; the service answers normally within 1 s of the database being back."""
    postgres = up.postgres
    figures = Figures(f"PostgreSQL stopped for {OUTAGE:.0f} s under load ({WORKERS} workers)")
    with service(up, tmp_path) as auth:
        owner = Owner(auth)
        seen = [owner.create_key(f"seen {i}")["key"] for i in range(4)]
        revoked, announced = owner.create_key("revoked"), owner.create_key("announced")
        never_seen, fresh = owner.create_key("never seen")["key"], owner.create_key("fresh")["key"]
        mix = [probe for i, key in enumerate(seen) for probe in key_probes("seen", f"seen{i}", key)]
        mix += [Probe("revoked", "revoked", "POST", VERIFY, revoked["key"])]
        mix += [Probe("announced", "announced", "POST", VERIFY, announced["key"])]
        # Not a goal of these tests (issue 16 asks for it too): a Bearer token at check.
        mix += [Probe("bearer", "bearer", "GET", CHECK, bearer=owner.token)]
        all_names = [probe.name for probe in mix]

        with Load(auth.base, mix) as load:
            # Before: every worker has verified every key (each worker has its own cache).
            wait_until_every_worker_answered(load, auth.access_log, WORKERS, all_names, [200], load.started)

            # Revoked through the API (published over Redis): refused by every worker, then the outage.
            revocation = owner.revoke(revoked["id"])
            refused_everywhere = wait_until_every_worker_answered(
                load, auth.access_log, WORKERS, ["revoked"], REFUSED, revocation.done
            )
            # Revoked in the database behind the service's back, announced only during the outage.
            with psycopg.connect(postgres.dsn(DATABASE), autocommit=True) as db:
                db.execute("UPDATE api_keys SET revoked_at = %s WHERE id = %s", (datetime.now(UTC), announced["id"]))

            stop_asked = time.monotonic()
            postgres.stop("fast")
            down = time.monotonic()
            load.set_mix(mix + key_probes("never-seen", "never-seen", never_seen))

            sleep_until(down + min(5.0, OUTAGE / 4))
            up.redis.client().publish(CHANNEL, f"api_key:{announced['id']}")
            announced_at = time.monotonic()
            sleep_until(stop_asked + OUTAGE)

            start_asked = time.monotonic()
            ready = postgres.start()

            def normal() -> bool:
                readyz = requests.get(auth.base + READYZ, timeout=5)
                verified = requests.post(auth.base + VERIFY, headers={"X-API-Key": fresh}, timeout=5)
                return readyz.status_code == 200 and verified.status_code == 200

            recovered = within(30, until, normal, what="a fresh key and /readyz to answer 200", interval=0.02)
            # Keep the load on until every worker has answered after the bound (a condition, not a sleep).
            within(
                30,
                wait_until_every_worker_answered,
                load,
                auth.access_log,
                WORKERS,
                ["never-seen-verify", "seen0-verify"],
                [200],
                ready + RECOVERY_BOUND,
            )
        answers = load.attribute(auth.access_log)
        relogin = login(auth).status_code

    outage = between(answers, stop_asked, start_asked)
    figures.note(f"load: {len(answers)} requests from {load.clients} clients in {load.stopped - load.started:.1f} s")
    figures.note(f"before the outage: {tally(between(answers, load.started, stop_asked))}")
    figures.note(f"during the outage: {tally(outage)}")
    figures.note(
        f"a Bearer token at check during the outage (not a goal of this test): {tally(of_kind(outage, 'bearer'))}"
    )
    figures.note(f"after PostgreSQL accepted connections again: {tally(between(answers, ready))}")
    figures.note(f"pg_ctl stop -m fast took {down - stop_asked:.2f} s; start to ready {ready - start_asked:.2f} s")

    seen_during = of_kind(outage, "seen")
    seen_ok = [a for a in seen_during if a.status == 200]
    first_refusal = next((a.sent - stop_asked for a in seen_during if a.status != 200), None)
    figures.check(
        f">= {STALE_GOAL:.0%} of the verifies of recently seen keys answer 200 during the outage",
        bool(seen_during) and len(seen_ok) >= STALE_GOAL * len(seen_during),
        f"{len(seen_ok)}/{len(seen_during)} = {percent(len(seen_ok), len(seen_during))}; "
        + (
            f"the first answer other than 200 came {first_refusal:.2f} s into the outage"
            if first_refusal is not None
            else "all 200"
        ),
    )
    others = unexpected(answers)
    figures.check(
        "no answer other than 200/401/429/503, and none missing",
        not others,
        f"{len(others)} of {len(answers)}" + (f": {tally(others)}" if others else ""),
    )
    never = of_kind(between(answers, down, start_asked), "never-seen")
    never_503 = [a for a in never if a.status == 503 and a.retry_after]
    figures.check(
        "a key never seen answers 503 with Retry-After during the outage",
        bool(never) and len(never_503) == len(never),
        f"{len(never_503)}/{len(never)} ({tally(never)})",
    )
    revoked_answers = of_kind(between(answers, refused_everywhere), "revoked")
    accepted = [a for a in revoked_answers if a.status == 200]
    last = last_acceptance(of_kind(answers, "revoked"), revocation.asked)
    figures.note(
        f"the revoked key was accepted last {per_worker(last)} after its revocation ({revocation.took}); "
        f"every worker had refused it {stop_asked - refused_everywhere:.2f} s before the outage"
    )
    figures.check(
        "the key revoked (and published) before the outage is never accepted",
        not accepted,
        f"{len(accepted)} accepted of {len(revoked_answers)}; during the outage: {tally(of_kind(outage, 'revoked'))}",
    )
    after_announcement = of_kind(between(answers, announced_at + REVOCATION_BOUND), "announced")
    accepted = [a for a in after_announcement if a.status == 200]
    figures.check(
        f"a key revoked behind the service's back and announced during the outage is refused within "
        f"{REVOCATION_BOUND:.0f} s of the announcement",
        not accepted,
        f"{len(accepted)} accepted of {len(after_announcement)} sent after the bound; "
        f"before the announcement: {tally(of_kind(between(answers, down, announced_at), 'announced'))}",
    )
    late = [a for a in between(answers, ready + RECOVERY_BOUND) if a.status == 503 or failed(a)]
    last_503 = max((a.received - ready for a in between(answers, ready) if a.status == 503), default=None)
    figures.check(
        f"normal answers within {RECOVERY_BOUND:.0f} s of PostgreSQL accepting connections",
        recovered is not None and recovered - ready <= RECOVERY_BOUND and not late,
        (
            f"a fresh key and /readyz answered 200 {recovered - ready:.2f} s after"
            if recovered is not None
            else "a fresh key and /readyz never both answered 200"
        )
        + (f"; the last 503 was answered {last_503:.2f} s after" if last_503 is not None else "; no 503 after it")
        + f"; {len(late)} requests sent after the bound failed or were 503",
    )
    figures.check("login works after the outage", relogin == 200, f"login answered {relogin}")
    figures.verify()


# -- 2. Redis is killed and comes back -----------------------------------------------------------


def test_redis_killed_and_restarted_under_load(up: Backends, tmp_path: Path):
    """SPEC section 7: losing Redis changes only the revocation bound (back to the cache TTL);
    once Redis is back, invalidation works again within 1 s; verification never notices."""
    ttl = REDIS_TEST_CACHE_TTL
    figures = Figures(f"Redis killed and restarted under load (cache TTL {ttl} s, {WORKERS} workers)")
    redis_server = up.redis
    with service(up, tmp_path, OUTTER_API_KEY_CACHE_TTL=str(ttl)) as auth:
        owner = Owner(auth)
        valid = [owner.create_key(f"valid {i}")["key"] for i in range(3)]
        while_down, after_back = owner.create_key("revoked while down"), owner.create_key("revoked after back")
        mix = [probe for i, key in enumerate(valid) for probe in key_probes("valid", f"valid{i}", key)]
        mix += [Probe("revoked-while-down", "down", "GET", CHECK, while_down["key"])]
        mix += [Probe("revoked-after-back", "back", "POST", VERIFY, after_back["key"])]

        with Load(auth.base, mix) as load:
            wait_until_every_worker_answered(load, auth.access_log, WORKERS, [p.name for p in mix], [200], load.started)
            subscribed_before = redis_server.subscribers(CHANNEL)

            killed = time.monotonic()
            redis_server.kill()
            revoked_down = owner.revoke(while_down["id"])  # its publication goes nowhere
            refused_down = within(
                ttl + 5.0,
                wait_until_every_worker_answered,
                load,
                auth.access_log,
                WORKERS,
                ["down"],
                REFUSED,
                revoked_down.done + ttl,
            )
            sleep_until(revoked_down.done + ttl + 1.0)  # Redis stays down past the TTL: the bound is the TTL's

            # Redis comes back right after the workers' latest attempt to reach it failed: the
            # worst moment for any reconnection schedule, and the one that shows what it costs.
            attempts = reconnection_failures(auth)
            just_failed = within(
                30,
                until,
                lambda: reconnection_failures(auth) >= attempts + WORKERS,
                what="every worker to fail to reach Redis once more",
                interval=0.01,
            )
            back = redis_server.start()
            resubscribed = None
            while time.monotonic() < back + REVOCATION_BOUND:  # until the SPEC's "within 1 s" is over
                if resubscribed is None and redis_server.subscribers(CHANNEL) >= WORKERS:
                    resubscribed = time.monotonic()
                time.sleep(0.02)
            revoked_back = owner.revoke(after_back["id"])
            if resubscribed is None:
                resubscribed = within(
                    30, until, lambda: redis_server.subscribers(CHANNEL) >= WORKERS, what="every worker to subscribe"
                )
            refused_back = within(
                30,
                wait_until_every_worker_answered,
                load,
                auth.access_log,
                WORKERS,
                ["back"],
                REFUSED,
                revoked_back.asked + REVOCATION_BOUND,
            )
        answers = load.attribute(auth.access_log)

    figures.note(f"load: {len(answers)} requests in {load.stopped - load.started:.1f} s: {tally(answers)}")
    figures.note(
        f"Redis down {back - killed:.1f} s; {subscribed_before} subscribers before the kill; restarted "
        + (
            f"{back - just_failed:.2f} s after the workers' latest failed reconnection; "
            if just_failed is not None
            else "with no failed reconnection seen in the log; "
        )
        + (
            f"every worker subscribed again {resubscribed - back:.2f} s after Redis was back"
            if resubscribed is not None
            else "the workers never subscribed again"
        )
    )
    valid_answers = of_kind(answers, "valid")
    bad = [a for a in valid_answers if a.status != 200]
    figures.note(
        f"valid keys' latency: Redis up {latency(of_kind(between(answers, load.started, killed), 'valid'))}; "
        f"down {latency(of_kind(between(answers, killed, back), 'valid'))}; "
        f"back {latency(of_kind(between(answers, back), 'valid'))}"
    )
    figures.check(
        "valid keys: every verify and check answers 200, Redis up, down and back",
        bool(valid_answers) and not bad,
        f"{len(valid_answers) - len(bad)}/{len(valid_answers)} ({tally(valid_answers)}); "
        f"while down: {tally(of_kind(between(answers, killed, back), 'valid'))}",
    )
    down_answers = of_kind(between(answers, revoked_down.done), "revoked-while-down")
    last = last_acceptance(down_answers, revoked_down.done)
    figures.check(
        f"a key revoked while Redis is down is refused by every worker within the cache TTL ({ttl} s)",
        refused_down is not None and all(delay <= ttl for delay in last.values()),
        f"last accepted after the DELETE returned: {per_worker(last)} ({revoked_down.took}); "
        + ("every worker refused it after the TTL" if refused_down is not None else "not every worker refused it"),
    )
    figures.check(
        f"once Redis is back, every worker listens for invalidations again within {REVOCATION_BOUND:.0f} s",
        resubscribed is not None and resubscribed - back <= REVOCATION_BOUND,
        f"{resubscribed - back:.2f} s" if resubscribed is not None else "never",
    )
    back_answers = of_kind(between(answers, revoked_back.asked), "revoked-after-back")
    last = last_acceptance(back_answers, revoked_back.asked)
    figures.check(
        f"a key revoked {REVOCATION_BOUND:.0f} s after Redis is back is refused by every worker "
        f"within {REVOCATION_BOUND:.0f} s",
        refused_back is not None and all(delay <= REVOCATION_BOUND for delay in last.values()),
        f"revoked {revoked_back.asked - back:.2f} s after Redis was back ({revoked_back.took}); "
        f"last accepted after it was asked: {per_worker(last)}",
    )
    others = unexpected(answers)
    figures.check(
        "no 5xx and no request without an answer",
        not others,
        f"{len(others)} of {len(answers)}" + (f": {tally(others)}" if others else ""),
    )
    figures.verify()


# -- 3 and 4. gunicorn reloads, a worker ends or dies --------------------------------------------


def steady_mix(owner: Owner) -> list[Probe]:
    """Keys verified (from the cache, mostly) and a database round trip (/readyz)."""
    mix = [probe for i in range(2) for probe in key_probes("key", f"key{i}", owner.create_key(f"key {i}")["key"])]
    return [*mix, Probe("readyz", "readyz", "GET", READYZ)]


def test_a_hup_reload_under_load_loses_no_request(up: Backends, tmp_path: Path):
    figures = Figures(f"kill -HUP of the gunicorn master under load ({WORKERS} workers)")
    with service(up, tmp_path) as auth:
        owner = Owner(auth)
        master = auth.proc.popen.pid
        mix = steady_mix(owner)
        with Load(auth.base, mix) as load:
            wait_until_every_worker_answered(load, auth.access_log, WORKERS, [p.name for p in mix], [200], load.started)
            before = workers_of(auth)
            hup = time.monotonic()
            os.kill(master, signal.SIGHUP)

            def replaced() -> bool:
                now = workers_of(auth)
                return len(now) == WORKERS and not now & before

            reloaded = within(60, until, replaced, what="every old worker to be replaced")
            after = workers_of(auth)
            served_after = within(
                30, wait_until_every_worker_answered, load, auth.access_log, WORKERS, ["readyz"], [200], reloaded or hup
            )
        answers = load.attribute(auth.access_log)

    failures = [a for a in answers if failed(a)]
    served_by = {a.pid for a in between(answers, reloaded or hup) if a.pid}
    figures.note(f"load: {len(answers)} requests in {load.stopped - load.started:.1f} s: {tally(answers)}")
    figures.note(f"across the reload (under way after the HUP): {tally(in_flight(answers, hup, float('inf')))}")
    figures.note(f"latency before the HUP {latency(between(answers, 0, hup))}; after {latency(between(answers, hup))}")
    figures.check(
        "0 failed requests (no answer, or 5xx) across the reload",
        not failures,
        f"{len(failures)} of {len(answers)}" + (f": {tally(failures)}" if failures else ""),
    )
    figures.check(
        "the worker pids change, and the new workers serve",
        reloaded is not None and served_after is not None and served_by <= {str(pid) for pid in after},
        f"before {sorted(before)}, after {sorted(after)}"
        + (f", replaced {reloaded - hup:.2f} s after the HUP" if reloaded is not None else ", not replaced"),
    )
    figures.verify()


def kill_one_worker(up: Backends, tmp_path: Path, signum: signal.Signals) -> tuple[Figures, list[Answer], float]:
    """``signum`` to one worker under load; the load goes on until the master has replaced it
    and KILL_WINDOW seconds have passed. The figures so far, the answers, when it was sent."""
    figures = Figures(f"kill -{signum.name.removeprefix('SIG')} of one worker under load ({WORKERS} workers)")
    with service(up, tmp_path) as auth:
        owner = Owner(auth)
        mix = steady_mix(owner)
        with Load(auth.base, mix) as load:
            wait_until_every_worker_answered(load, auth.access_log, WORKERS, [p.name for p in mix], [200], load.started)
            before = workers_of(auth)
            victim = min(before)
            signalled = time.monotonic()
            os.kill(victim, signum)

            def replaced() -> bool:
                now = workers_of(auth)
                return len(now) == WORKERS and victim not in now

            replaced_at = within(60, until, replaced, what="the master to replace the worker")
            after = workers_of(auth)
            newcomer = after - before
            served = within(
                30,
                until,
                lambda: any(a.pid == str(pid) for a in load.attribute(auth.access_log) for pid in newcomer),
                what="the new worker to serve",
            )
            # The window counted below must be over before the load stops (a condition, not a sleep).
            within(30, until, lambda: bool(between(load.answers(), signalled + KILL_WINDOW)), what="the window to pass")
        answers = load.attribute(auth.access_log)

    figures.note(f"load: {len(answers)} requests in {load.stopped - load.started:.1f} s: {tally(answers)}")
    window = in_flight(answers, signalled, signalled + KILL_WINDOW)
    figures.note(f"under way in the {KILL_WINDOW:.0f} s after the signal: {tally(window)}; {latency(window)}")
    figures.check(
        "the master replaces the worker, and the new one serves",
        replaced_at is not None and bool(newcomer) and served is not None,
        f"worker {victim} replaced by {sorted(newcomer)}"
        + (f" {replaced_at - signalled:.2f} s after the signal" if replaced_at is not None else " never")
        + (f", serving {served - signalled:.2f} s after" if served is not None else ", which never served"),
    )
    return figures, answers, signalled


def test_a_term_of_one_worker_under_load_loses_no_request(up: Backends, tmp_path: Path):
    figures, answers, _ = kill_one_worker(up, tmp_path, signal.SIGTERM)
    failures = [a for a in answers if failed(a)]
    figures.check(
        "0 failed requests (no answer, or 5xx)",
        not failures,
        f"{len(failures)} of {len(answers)}" + (f": {tally(failures)}" if failures else ""),
    )
    figures.verify()


def test_a_kill_of_one_worker_under_load_loses_at_most_1_percent(up: Backends, tmp_path: Path):
    figures, answers, killed = kill_one_worker(up, tmp_path, signal.SIGKILL)
    window = in_flight(answers, killed, killed + KILL_WINDOW)
    failures = [a for a in window if failed(a)]
    figures.check(
        f"<= {KILL_GOAL:.0%} failed requests in the {KILL_WINDOW:.0f} s after the kill (those under way then included)",
        bool(window) and len(failures) <= KILL_GOAL * len(window),
        f"{len(failures)} of {len(window)} = {percent(len(failures), len(window))}"
        + (f": {tally(failures)}" if failures else ""),
    )
    outside = [a for a in answers if failed(a) and a not in window]
    figures.check(
        "no failed request outside that window",
        not outside,
        f"{len(outside)} of {len(answers) - len(window)}" + (f": {tally(outside)}" if outside else ""),
    )
    figures.verify()


# -- 5. the database fails over: connections come back without a restart --------------------------


def test_every_worker_reconnects_after_a_database_restart(up: Backends, tmp_path: Path):
    """PostgreSQL crashes (``pg_ctl stop -m immediate``) and starts again with no traffic in
    between; each worker's pooled connections are dead, and each worker must notice and reconnect
    by itself (tests/api/test_outage_and_headers.py checks one process; this one, gunicorn's)."""
    postgres = up.postgres
    figures = Figures(f"PostgreSQL crash and restart, no load meanwhile ({WORKERS} workers)")
    readyz = [Probe("readyz", "readyz", "GET", READYZ)]
    with service(up, tmp_path) as auth:
        owner = Owner(auth)
        master, before = auth.proc.popen.pid, workers_of(auth)
        with Load(auth.base, readyz) as warm:  # every worker holds a pooled connection
            wait_until_every_worker_answered(warm, auth.access_log, WORKERS, ["readyz"], [200], warm.started)

        postgres.stop("immediate")
        with Load(auth.base, readyz) as down:  # every worker finds its connection dead: 503, not 500
            saw_503 = within(30, wait_until_every_worker_answered, down, auth.access_log, WORKERS, ["readyz"], [503], 0)
        down_answers = down.attribute(auth.access_log)

        ready = postgres.start()
        with Load(auth.base, readyz) as back:
            recovered = within(
                30, wait_until_every_worker_answered, back, auth.access_log, WORKERS, ["readyz"], [200], back.started
            )
        back_answers = back.attribute(auth.access_log)
        key = owner.create_key("after the restart")["key"]  # a write
        verified = requests.post(auth.base + VERIFY, headers={"X-API-Key": key}, timeout=30).status_code
        relogin = login(auth).status_code
        after = workers_of(auth)
        same_master = auth.proc.alive()

    first_ok = {}
    for answer in back_answers:
        if answer.status == 200 and answer.pid and answer.pid not in first_ok:
            first_ok[answer.pid] = answer.received - ready
    figures.note(f"while down: {tally(down_answers)}; once back: {tally(back_answers)}")
    figures.check(
        "while the database is down every worker answers 503, never 500",
        saw_503 is not None and not [a for a in down_answers if a.status != 503],
        tally(down_answers),
    )
    figures.check(
        f"every worker answers 200 within {RECOVERY_BOUND:.0f} s of PostgreSQL accepting connections",
        recovered is not None
        and len(first_ok) == WORKERS
        and all(delay <= RECOVERY_BOUND for delay in first_ok.values())
        and not [a for a in back_answers if a.status != 200],
        per_worker(first_ok) + f"; {tally(back_answers)}",
    )
    figures.check(
        "no restart: the same master and workers; a write, a verify and a login work",
        same_master and after == before and verified == 200 and relogin == 200,
        f"workers {sorted(before)} -> {sorted(after)} (master {master} alive: {same_master}); "
        f"verify of a new key {verified}, login {relogin}",
    )
    figures.verify()
