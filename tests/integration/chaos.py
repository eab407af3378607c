"""Fault injection for the chaos tests (issue 16, SPEC section 7 "Outages").

- ``private_postgres`` and ``private_redis``: a PostgreSQL cluster and a Redis server of the
  test's own, on ports the kernel chose, that a test stops, kills and starts again on the same
  port. Never the shared servers at :5432 and :6379: other people's tests run against those.
- ``Load``: a bounded load, a few client threads each sending one request after the other and
  recording every answer (or the failure to get one) with the times it was sent and received.
  Each request carries an ``X-Request-Id`` that the service's access log records next to the
  worker pid (``ACCESS_LOG_FORMAT``), so every answer can be traced to the worker that gave it.
- ``Figures``: what a test measured, printed and checked all at once, so that one missed goal
  still reports every other figure.

Waits are bounded polls; the only sleeps are the outages themselves.
"""

from __future__ import annotations

import datetime as dt
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import psycopg
import pytest
import redis
import requests
from redis.backoff import NoBackoff
from redis.retry import Retry
from requests.adapters import HTTPAdapter

from tests.integration.servers import (
    PORT_ATTEMPTS,
    START_TIMEOUT,
    STOP_TIMEOUT,
    Proc,
    free_port,
    require,
    stop,
    wait_for,
)

# The service's access log with the request id each client sent: "pid method path status id".
ACCESS_LOG_FORMAT = "%(p)s %(m)s %(U)s %(s)s %({x-request-id}i)s"
CLIENTS = 8  # concurrent clients of a load: 4 per worker, so both workers are always busy
REQUEST_TIMEOUT = 10.0  # a client gives up on an answer after this long (counted as a failure)
PG_BIN_DIRS = tuple(
    sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
        reverse=True,
    )
)
PG_READY = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) UTC .*database system is ready to accept connections")


# -- programs --------------------------------------------------------------------------------


def missing_binary(name: str, hint: str) -> NoReturn:
    """The one place a chaos test is skipped for a program the machine lacks (a failure in CI)."""
    require(f"{name} is not installed ({hint})")
    raise AssertionError("unreachable: require() skips or fails")


def find_binary(name: str, hint: str, also_in: Iterable[Path] = ()) -> str:
    """``name`` from the first of ``also_in`` that has it, else from PATH; a skip if nowhere."""
    for directory in also_in:
        candidate = directory / name
        if os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        missing_binary(name, hint)
    return found


def children(pid: int) -> set[int]:
    """The live child processes of ``pid`` (for gunicorn's master: its workers)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # it ended while we looked
        state, ppid = stat[stat.rindex(")") + 2 :].split()[:2]
        if int(ppid) == pid and state not in ("Z", "X"):
            found.add(int(entry.name))
    return found


def monotonic_of(wall: dt.datetime) -> float:
    """A wall-clock instant on the ``time.monotonic()`` scale of this process."""
    return wall.timestamp() - (time.time() - time.monotonic())


def sleep_until(instant: float) -> None:
    """The outage itself: the one kind of sleep the chaos tests take."""
    time.sleep(max(0.0, instant - time.monotonic()))


# -- a private PostgreSQL ----------------------------------------------------------------------


def _cluster_owner() -> pwd.struct_passwd | None:
    """Who runs the cluster: PostgreSQL refuses root, so root hands it to ``postgres`` (or nobody)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root, and neither a postgres nor a nobody user exists to own a cluster")


class PrivatePostgres:
    """A cluster in a temporary directory, trust authentication, on 127.0.0.1 only."""

    def __init__(self, bin_dir: Path, root: Path, owner: pwd.struct_passwd | None) -> None:
        self.bin_dir = bin_dir
        self.root = root
        self.owner = owner
        self.data = root / "data"
        self.log = root / "postgres.log"
        self.port = 0

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database} connect_timeout=2"

    def _argv(self, program: str, *args: str) -> list[str]:
        argv = [str(self.bin_dir / program), *args]
        if self.owner is None:
            return argv
        runuser = shutil.which("runuser")
        if runuser:
            return [runuser, "-u", self.owner.pw_name, "--", *argv]
        setpriv = find_binary("setpriv", "apt-get install util-linux")
        return [setpriv, f"--reuid={self.owner.pw_uid}", f"--regid={self.owner.pw_gid}", "--init-groups", *argv]

    def _run(self, program: str, *args: str, timeout: float = START_TIMEOUT) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self._argv(program, *args),
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def failure(self, message: str) -> RuntimeError:
        try:
            tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])
        except OSError:
            tail = ""
        return RuntimeError(f"private PostgreSQL: {message}\n--- {self.log} ---\n{tail}")

    def initdb(self) -> None:
        done = self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        # Our settings in a file of their own, so a new port is one rewrite away.
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write("\ninclude 'outter-chaos.conf'\n")

    def _configure(self, port: int) -> None:
        self.port = port
        settings = {
            "port": str(port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.root}'",
            "max_connections": "60",
            # A scratch cluster: surviving an OS crash buys nothing here (fsync off), but a
            # commit must survive the server's own crash (``stop -m immediate``), which kills
            # the processes only: synchronous_commit stays on, so WAL reaches the kernel first.
            "fsync": "off",
            "full_page_writes": "off",
            # Millisecond UTC time stamps: the moment it is ready is read from the log.
            "log_line_prefix": "'%m [%p] '",
            "log_timezone": "'UTC'",
        }
        (self.data / "outter-chaos.conf").write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))

    def start_on_a_free_port(self) -> None:
        for _ in range(PORT_ATTEMPTS):
            self._configure(free_port())
            try:
                self.start()
                return
            except RuntimeError as error:
                if "already in use" not in str(error):
                    raise
        raise RuntimeError(f"private PostgreSQL found no free port in {PORT_ATTEMPTS} attempts")

    def accepting(self) -> bool:
        try:
            with psycopg.connect(self.dsn(), connect_timeout=1):
                return True
        except psycopg.OperationalError:
            return False

    def start(self) -> float:
        """Start it (on its port, again); when it was ready to accept connections (monotonic)."""
        asked = time.monotonic()
        output = self.root / "pg_ctl.out"
        with open(output, "wb") as out:
            pg_ctl = subprocess.Popen(
                self._argv(
                    "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", str(int(START_TIMEOUT)), "start"
                ),
                cwd=self.root,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

        def accepting() -> float | None:
            if self.accepting():
                return time.monotonic()
            if pg_ctl.poll() not in (None, 0):
                said = output.read_text(errors="replace").strip()
                raise self.failure(f"pg_ctl start exited with {pg_ctl.returncode}: {said}")
            return None

        try:
            polled: float = wait_for(accepting, START_TIMEOUT, "the private PostgreSQL to accept connections", 0.01)
            pg_ctl.wait(timeout=START_TIMEOUT)
        finally:
            if pg_ctl.poll() is None:
                pg_ctl.kill()
                pg_ctl.wait()
        # The log knows to the millisecond; a poll only knows it once it got its turn.
        logged = [t for t in self._ready_times() if t >= asked - 1.0]
        return min(logged[-1], polled) if logged else polled

    def _ready_times(self) -> list[float]:
        times = []
        for line in self.log.read_text(errors="replace").splitlines():
            if match := PG_READY.match(line):
                wall = dt.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=dt.UTC)
                times.append(monotonic_of(wall))
        return times

    def stop(self, mode: str) -> None:
        """``pg_ctl stop -m fast`` (sessions ended, a clean shut-down) or ``immediate`` (a crash)."""
        done = self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", str(int(START_TIMEOUT)), "stop")
        if done.returncode != 0:
            raise self.failure(f"pg_ctl stop -m {mode} failed ({done.returncode}): {done.stdout}{done.stderr}")
        wait_for(lambda: not self.accepting(), STOP_TIMEOUT, "the private PostgreSQL to refuse connections")

    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status", timeout=STOP_TIMEOUT).returncode == 0

    def destroy(self) -> None:
        """Stop it however it is, and leave no process behind."""
        if self.data.exists() and self.running():
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop", timeout=STOP_TIMEOUT)
        pidfile = self.data / "postmaster.pid"
        if pidfile.exists():
            try:
                os.kill(int(pidfile.read_text().split()[0]), signal.SIGKILL)
            except (ValueError, IndexError, ProcessLookupError):
                pass


@contextmanager
def private_postgres(keep_log: Path | None = None) -> Iterator[PrivatePostgres]:
    """A new cluster, started; stopped and deleted afterwards (its log copied to ``keep_log``)."""
    initdb = find_binary("initdb", "apt-get install postgresql", PG_BIN_DIRS)
    bin_dir = Path(initdb).resolve().parent
    if not os.access(bin_dir / "pg_ctl", os.X_OK):
        missing_binary("pg_ctl", f"not next to {initdb}; apt-get install postgresql")
    owner = _cluster_owner()
    root = Path(tempfile.mkdtemp(prefix="outter-chaos-pg-"))  # not pytest's: the owner must reach it
    postgres = PrivatePostgres(bin_dir, root, owner)
    try:
        if owner is not None:
            os.chown(root, owner.pw_uid, owner.pw_gid)
        root.chmod(0o700)
        postgres.initdb()
        postgres.start_on_a_free_port()
        yield postgres
    finally:
        try:
            postgres.destroy()
        finally:
            if keep_log is not None and postgres.log.exists():
                shutil.copyfile(postgres.log, keep_log)
            shutil.rmtree(root, ignore_errors=True)


# -- a private Redis ----------------------------------------------------------------------------


class PrivateRedis:
    """``redis-server`` with no persistence; killed with SIGKILL, started again on its port."""

    def __init__(self, binary: str, root: Path) -> None:
        self.binary = binary
        self.root = root
        self.port = 0
        self.proc: Proc | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        # No retries: redis-py's default (3, with a backoff of seconds) would blur every figure
        # of when Redis went away and came back.
        return redis.Redis(
            host="127.0.0.1", port=self.port, socket_connect_timeout=1, socket_timeout=2, retry=Retry(NoBackoff(), 0)
        )

    def ping(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.RedisError:
            return False

    def subscribers(self, channel: str) -> int:
        """How many connections are subscribed to ``channel`` (PUBSUB NUMSUB)."""
        counts: Any = self.client().pubsub_numsub(channel)  # [(channel, count)]
        return int(counts[0][1]) if counts else 0

    def start(self) -> float:
        """Start it on its port (a free one the first time); when it first answered PING (monotonic)."""
        first = self.port == 0
        for _ in range(PORT_ATTEMPTS if first else 1):
            if first:
                self.port = free_port()
            try:
                return self._start_once()
            except RuntimeError as error:
                # Somebody took the port in between. The first time, another port will do; a
                # restart elsewhere would be no restart (the service knows this one), so it fails.
                if not first or "in use" not in str(error):
                    raise
        raise RuntimeError(f"private Redis found no free port in {PORT_ATTEMPTS} attempts")

    def _start_once(self) -> float:
        self.starts += 1
        log = self.root / f"redis-{self.starts}.log"
        argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        argv += ["--dir", str(self.root), "--daemonize", "no"]
        with open(log, "ab") as out:
            popen = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        proc = self.proc = Proc("redis-server", popen, log)

        def answering() -> float | None:
            if self.ping():
                return time.monotonic()
            if not proc.alive():
                raise proc.failure(f"exited with {proc.popen.returncode}")
            return None

        answered: float = wait_for(answering, START_TIMEOUT, "the private Redis to answer PING", 0.01)
        return answered

    def kill(self) -> None:
        """SIGKILL, as a crash: no goodbye to its clients. Returns once it refuses connections."""
        assert self.proc is not None
        self.proc.popen.send_signal(signal.SIGKILL)
        self.proc.popen.wait(timeout=STOP_TIMEOUT)
        wait_for(lambda: not self.ping(), STOP_TIMEOUT, "the private Redis to refuse connections")

    def ensure_running(self) -> None:
        if self.proc is None or not self.proc.alive():
            self.start()

    def close(self) -> None:
        if self.proc is not None:
            stop(self.proc)


@contextmanager
def private_redis(root: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(find_binary("redis-server", "apt-get install redis-server"), root)
    try:
        server.start()
        yield server
    finally:
        server.close()


# -- a bounded load -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """One request the load sends again and again. ``kind`` groups probes in the figures
    ("seen", "never-seen", ...); ``name`` tells them apart (and goes into the request id)."""

    kind: str
    name: str
    method: str
    path: str
    key: str | None = None  # sent as X-API-Key
    bearer: str | None = None  # sent as Authorization: Bearer


@dataclass
class Answer:
    probe: Probe
    request_id: str
    sent: float
    received: float
    status: int | None = None  # None: no answer (connection refused or reset, timeout)
    error: str | None = None
    retry_after: str | None = None
    pid: str | None = None  # the worker that answered, from the access log (``Load.attribute``)


class Load:
    """``clients`` threads, each sending the probes of the current mix in turn, one request at a
    time (a closed loop: the load is bounded by the clients, not by a rate)."""

    def __init__(self, base: str, mix: Sequence[Probe], clients: int = CLIENTS) -> None:
        assert mix, "a load needs something to send"
        self.base = base
        self._mix = tuple(mix)
        self._answers: list[list[Answer]] = [[] for _ in range(clients)]
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._client, args=(index,), name=f"chaos-client-{index}", daemon=True)
            for index in range(clients)
        ]
        self.started = self.stopped = 0.0

    @property
    def clients(self) -> int:
        return len(self._threads)

    def set_mix(self, mix: Sequence[Probe]) -> None:
        """What the clients send from their next request on."""
        assert mix
        self._mix = tuple(mix)

    def __enter__(self) -> Load:
        self.started = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=REQUEST_TIMEOUT + STOP_TIMEOUT)
        self.stopped = time.monotonic()

    def _client(self, index: int) -> None:
        with requests.Session() as session:
            # No retry anywhere: a request that failed is counted, not hidden.
            session.mount("http://", HTTPAdapter(max_retries=0, pool_connections=1, pool_maxsize=1))
            sequence = 0
            while not self._stop.is_set():
                mix = self._mix
                probe = mix[(index + sequence) % len(mix)]
                sequence += 1
                request_id = f"{probe.name}.{index}.{sequence}"
                headers = {"X-Request-Id": request_id}
                if probe.key is not None:
                    headers["X-API-Key"] = probe.key
                if probe.bearer is not None:
                    headers["Authorization"] = f"Bearer {probe.bearer}"
                sent = time.monotonic()
                try:
                    response = session.request(
                        probe.method, self.base + probe.path, headers=headers, timeout=REQUEST_TIMEOUT
                    )
                except requests.RequestException as error:
                    answer = Answer(probe, request_id, sent, time.monotonic(), error=_describe(error))
                else:
                    answer = Answer(
                        probe,
                        request_id,
                        sent,
                        time.monotonic(),
                        response.status_code,
                        None,
                        response.headers.get("Retry-After"),
                    )
                self._answers[index].append(answer)

    def answers(self) -> list[Answer]:
        """Every answer so far, in the order the requests were sent."""
        return sorted((a for answers in self._answers for a in list(answers)), key=lambda a: a.sent)

    def attribute(self, access_log: Path) -> list[Answer]:
        """``answers()`` with the pid of the worker that gave each (None if not logged yet).

        A worker logs a request just after it sent the answer: once the load has stopped, this
        waits (a little, bounded) until every answer's line is there.
        """
        answers = self.answers()

        def attributed() -> bool:
            pids = {}
            for line in access_log.read_text(errors="replace").splitlines():
                parts = line.split()
                if len(parts) == 5:
                    pids[parts[4]] = parts[0].strip("<>")  # gunicorn 27 writes "<pid>"
            for answer in answers:
                answer.pid = pids.get(answer.request_id)
            return all(a.pid is not None for a in answers if a.status is not None)

        if not attributed() and self._stop.is_set():
            try:
                wait_for(attributed, STOP_TIMEOUT, "the access log to name the worker of every answer", 0.05)
            except TimeoutError:
                pass  # figures count such answers under worker "?"
        return answers


def _describe(error: requests.RequestException) -> str:
    cause: BaseException = error
    while cause.__context__ is not None and not isinstance(cause, ConnectionError | TimeoutError):
        cause = cause.__context__
    return f"{type(error).__name__} ({type(cause).__name__})"


def wait_until_every_worker_answered(
    load: Load,
    access_log: Path,
    workers: int,
    names: Iterable[str],
    statuses: Iterable[int],
    since: float,
    timeout: float = 30.0,
) -> float:
    """Wait until each probe in ``names`` was answered with one of ``statuses`` by ``workers``
    different workers, counting requests sent from ``since`` on; when that was seen (monotonic)."""
    wanted, accepted = set(names), set(statuses)

    def every_worker() -> float | None:
        pids: dict[str, set[str]] = {name: set() for name in wanted}
        for answer in load.attribute(access_log):
            if answer.sent >= since and answer.probe.name in wanted and answer.status in accepted and answer.pid:
                pids[answer.probe.name].add(answer.pid)
        return time.monotonic() if all(len(served) >= workers for served in pids.values()) else None

    seen: float = wait_for(
        every_worker, timeout, f"{workers} workers to answer {sorted(wanted)} with {sorted(accepted)}", 0.1
    )
    return seen


# -- figures ------------------------------------------------------------------------------------


def tally(answers: Iterable[Answer]) -> str:
    """ "seen: 1200 (200: 1190, 503: 10); never-seen: ..." and the failures, by kind."""
    by_kind: dict[str, Counter[str]] = {}
    for answer in answers:
        outcome = str(answer.status) if answer.status is not None else answer.error or "no answer"
        by_kind.setdefault(answer.probe.kind, Counter())[outcome] += 1
    if not by_kind:
        return "no requests"
    parts = []
    for kind, outcomes in by_kind.items():
        detail = ", ".join(f"{outcome}: {count}" for outcome, count in sorted(outcomes.items()))
        parts.append(f"{kind}: {sum(outcomes.values())} ({detail})")
    return "; ".join(parts)


def percent(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.2f} %" if whole else "n/a (no requests)"


def between(answers: Iterable[Answer], start: float, end: float = float("inf")) -> list[Answer]:
    """The answers to requests sent in [start, end)."""
    return [a for a in answers if start <= a.sent < end]


def in_flight(answers: Iterable[Answer], start: float, end: float) -> list[Answer]:
    """The requests that were under way at some moment of [start, end): sent before its end,
    answered (or given up) after its start. A request a killed worker held is one of them."""
    return [a for a in answers if a.sent < end and a.received >= start]


def of_kind(answers: Iterable[Answer], *kinds: str) -> list[Answer]:
    return [a for a in answers if a.probe.kind in kinds]


def latency(answers: Iterable[Answer]) -> str:
    """Median, 99th percentile and longest time to an answer."""
    times = sorted(a.received - a.sent for a in answers if a.status is not None)
    if not times:
        return "no answers"
    p99 = times[min(len(times) - 1, int(0.99 * len(times)))]
    return f"median {1000 * times[len(times) // 2]:.0f} ms, p99 {1000 * p99:.0f} ms, max {1000 * times[-1]:.0f} ms"


class Figures:
    """A test's measurements: goals checked with what was measured, and plain figures. All of
    them are printed, and all of them are in the assertion message if a goal was missed."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.lines: list[str] = []
        self.missed: list[str] = []
        self.started = time.monotonic()

    def note(self, text: str) -> None:
        self.lines.append(f"       {text}")

    def check(self, goal: str, ok: bool, measured: str) -> bool:
        self.lines.append(f"[{'ok' if ok else 'MISSED'}] {goal}: {measured}")
        if not ok:
            self.missed.append(goal)
        return ok

    def report(self) -> str:
        took = time.monotonic() - self.started
        head = f"== {self.title} ({took:.1f} s)"
        tail = f"goals missed: {', '.join(self.missed)}" if self.missed else "every goal met"
        return "\n".join([head, *self.lines, tail])

    def verify(self) -> None:
        report = self.report()
        print("\n" + report)
        if self.missed:
            pytest.fail(report, pytrace=False)  # the report says it all; the test's code would bury it


def until(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.05) -> float:
    """``wait_for`` that answers when the predicate first held (monotonic)."""
    held: float = wait_for(lambda: time.monotonic() if predicate() else None, timeout, what, interval)
    return held
