"""Real processes for the gateway integration tests: gunicorn, nginx, Apache, an echo upstream.

Every server here is a context manager that stops what it started, also when the test fails.
Ports come from the kernel (bind to port 0): gunicorn inherits the bound socket itself
(``--bind fd://N``), nginx and Apache get a free port and are started again on another one in
the rare case that port was taken in between. Waits are bounded polls, never bare sleeps.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
ISSUER = "https://auth.outter.test"  # the issuer of tests/conftest.py's base_config
AUDIENCE = "outter-api"
REDIS_URL = "redis://127.0.0.1:6379/0"
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
START_TIMEOUT = 60.0  # a start-up wait, not a promise: generous for a slow or busy machine
STOP_TIMEOUT = 10.0
PORT_ATTEMPTS = 3
# gunicorn's access log: "pid method path status", read by Service.pids_that_served. A test may
# add fields after these four (the chaos tests add the request id they sent).
ACCESS_LOG_FORMAT = "%(p)s %(m)s %(U)s %(s)s"


# -- waiting ----------------------------------------------------------------------------


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise TimeoutError(f"gave up after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- processes --------------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def failure(self, message: str) -> RuntimeError:
        return RuntimeError(f"{self.name}: {message}\n--- {self.log} ---\n{self.tail()}")


@contextmanager
def running(
    name: str,
    argv: list[str],
    log: Path,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    pass_fds: tuple[int, ...] = (),
) -> Iterator[Proc]:
    """Run ``argv`` in its own process group, output to ``log``; stop it (and its children) on exit."""
    with open(log, "ab") as out:
        popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            pass_fds=pass_fds,
            start_new_session=True,
        )
    proc = Proc(name, popen, log)
    try:
        yield proc
    finally:
        stop(proc)


def stop(proc: Proc) -> None:
    """SIGTERM to the process we started, then SIGKILL to its own process group if it lingers."""
    if proc.alive():
        proc.popen.send_signal(signal.SIGTERM)
        try:
            proc.popen.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.popen.pid, signal.SIGKILL)  # the group is ours alone: start_new_session
    except (ProcessLookupError, PermissionError):
        pass
    proc.popen.wait(timeout=STOP_TIMEOUT)


def http_status(url: str, context: ssl.SSLContext | None = None, timeout: float = 2.0) -> int | None:
    """The status of a GET, or None if nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code
    except (OSError, ssl.SSLError):
        return None


def wait_until_serving(
    proc: Proc, url: str, expect: int = 200, context: ssl.SSLContext | None = None, timeout: float = START_TIMEOUT
) -> None:
    def ready() -> bool:
        if not proc.alive():
            raise proc.failure(f"exited with {proc.popen.returncode} before serving {url}")
        return http_status(url, context) == expect

    try:
        wait_for(ready, timeout, f"{proc.name} to answer {expect} at {url}", interval=0.1)
    except TimeoutError as error:
        raise proc.failure(str(error)) from None


def port_was_taken(proc: Proc) -> bool:
    return not proc.alive() and "in use" in proc.tail()


# -- the service (gunicorn serving wsgi:app) ----------------------------------------------


def service_env(database_url: str, keys_dir: Path | str, **extra: str) -> dict[str, str]:
    """The environment of a service process: OUTTER_* only from here, never from the caller's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OUTTER_", "GUNICORN_", "FLASK_"))}
    env.update(
        OUTTER_ENV="testing",
        OUTTER_DATABASE_URL=database_url,
        OUTTER_KEYS_DIR=str(keys_dir),
        OUTTER_ISSUER=ISSUER,
        PYTHONUNBUFFERED="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.update(extra)
    return env


@dataclass
class Service:
    base: str
    proc: Proc
    access_log: Path
    context: ssl.SSLContext | None = None

    def access_lines(self) -> list[str]:
        return self.access_log.read_text().splitlines()

    def pids_that_served(self, path: str, status: int, since: int = 0) -> set[str]:
        """Worker pids that answered ``path`` with ``status`` after access-log line ``since``.

        The access log is written as "pid method path status" (see ``gunicorn``).
        """
        served = set()
        for line in self.access_lines()[since:]:
            parts = line.split()
            if len(parts) >= 4 and parts[2] == path and parts[3] == str(status):
                served.add(parts[0])
        return served


@contextmanager
def gunicorn(
    env: dict[str, str],
    workdir: Path,
    *,
    name: str = "gunicorn",
    workers: int = 2,
    tls: tuple[Path, Path] | None = None,
    access_log_format: str = ACCESS_LOG_FORMAT,
) -> Iterator[Service]:
    """``gunicorn wsgi:app`` with the repository's gunicorn.conf.py, on a socket we bound ourselves."""
    workdir.mkdir(parents=True, exist_ok=True)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    access_log = workdir / f"{name}-access.log"
    access_log.touch()
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        str(REPO / "gunicorn.conf.py"),
        "--chdir",
        str(REPO),
        "--bind",
        f"fd://{sock.fileno()}",
        "--workers",
        str(workers),
        "--access-logfile",
        str(access_log),
        "--access-logformat",
        access_log_format,
    ]
    if _gunicorn_has_setting("control_socket_disable"):
        # gunicorn 27 opens a control socket, by default one path per user ($HOME/.gunicorn):
        # several servers at once would share it. The tests need none.
        argv.append("--no-control-socket")
    scheme = "http"
    context = None
    if tls is not None:
        certfile, keyfile = tls
        argv += ["--certfile", str(certfile), "--keyfile", str(keyfile)]
        scheme = "https"
        context = ssl.create_default_context(cafile=str(certfile))
    argv.append("wsgi:app")
    try:
        with running(name, argv, workdir / f"{name}.log", env=env, cwd=REPO, pass_fds=(sock.fileno(),)) as proc:
            sock.close()  # the service holds its own copy now
            base = f"{scheme}://127.0.0.1:{port}"
            wait_until_serving(proc, base + "/healthz", context=context)
            yield Service(base, proc, access_log, context)
    finally:
        sock.close()


def _gunicorn_has_setting(name: str) -> bool:
    from gunicorn import config

    return any(setting.name == name for setting in config.KNOWN_SETTINGS)


def outter_cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    """Run ``outter-auth ARGS`` in its own process; its standard output, or a failure with its output."""
    result = subprocess.run(
        [sys.executable, "-c", "from outter_auth.cli import main; main()", *args],
        env=env,
        cwd=REPO,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0:
        raise AssertionError(f"outter-auth {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result.stdout


def outter_cli_json(env: dict[str, str], *args: str, stdin: str | None = None) -> Any:
    return json.loads(outter_cli(env, *args, "--json", stdin=stdin))


# -- an upstream that echoes what it received ------------------------------------------


@dataclass
class Echo:
    base: str
    requests: list[dict[str, Any]] = field(default_factory=list)


class _EchoHandler(BaseHTTPRequestHandler):
    server: _EchoServer

    def _echo(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        seen = {
            "method": self.command,
            "path": self.path,
            "headers": [[name, value] for name, value in self.headers.items()],
            "body": body,
        }
        with self.server.lock:
            self.server.seen.append(seen)
        payload = json.dumps(seen).encode()
        # A test can ask for another status (X-Echo-Status: 500): a service answering an error itself.
        self.send_response(int(self.headers.get("X-Echo-Status") or 200))
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _echo

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _EchoServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # not socketserver's 5: bursts of concurrent requests come through the gateway

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _EchoHandler)
        self.lock = threading.Lock()
        self.seen: list[dict[str, Any]] = []


@contextmanager
def echo_upstream() -> Iterator[Echo]:
    """An HTTP server on loopback answering every request with its method, path, headers and body as JSON
    (status 200, or the one asked for in ``X-Echo-Status``)."""
    server = _EchoServer()
    thread = threading.Thread(target=server.serve_forever, name="echo-upstream", daemon=True)
    thread.start()
    try:
        yield Echo(f"http://127.0.0.1:{server.server_address[1]}", server.seen)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=STOP_TIMEOUT)


# -- nginx ----------------------------------------------------------------------------------


def render_nginx_template(template: Path, values: dict[str, str]) -> str:
    """What ``envsubst '${A} ${B}'`` makes of the template: only the named placeholders change."""
    text = template.read_text()
    for name, value in values.items():
        placeholder = "${" + name + "}"
        assert placeholder in text, f"{placeholder} is not in {template}"
        text = text.replace(placeholder, value)
    assert "${" not in text, "an unrendered placeholder is left"
    return text


NGINX_MAIN = """\
{user}
worker_processes 1;
daemon off;
pid {root}/nginx.pid;
error_log {root}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {root}/access.log;
    client_body_temp_path {root}/tmp/client_body;
    proxy_temp_path {root}/tmp/proxy;
    fastcgi_temp_path {root}/tmp/fastcgi;
    uwsgi_temp_path {root}/tmp/uwsgi;
    scgi_temp_path {root}/tmp/scgi;
    include conf.d/*.conf;
}}
"""


@dataclass
class Gateway:
    base: str
    proc: Proc


@contextmanager
def nginx(root: Path, auth_addr: str, services_addr: str) -> Iterator[Gateway]:
    """nginx with deploy/nginx/ as it ships: the rendered template in conf.d/, the snippet in snippets/."""
    binary = shutil.which("nginx")
    assert binary, "nginx is not installed"
    root.mkdir(parents=True, exist_ok=True)
    (root / "tmp").mkdir(exist_ok=True)
    (root / "conf.d").mkdir(exist_ok=True)
    shutil.copytree(DEPLOY / "nginx" / "snippets", root / "snippets", dirs_exist_ok=True)
    user = "user root root;" if os.geteuid() == 0 else ""
    (root / "nginx.conf").write_text(NGINX_MAIN.format(root=root, user=user))
    for attempt in range(PORT_ATTEMPTS):
        port = free_port()
        conf = render_nginx_template(
            DEPLOY / "nginx" / "outter-gateway.conf.template",
            {
                "OUTTER_GATEWAY_LISTEN": f"127.0.0.1:{port}",
                "OUTTER_AUTH_ADDR": auth_addr,
                "OUTTER_SERVICES_ADDR": services_addr,
            },
        )
        (root / "conf.d" / "outter-gateway.conf").write_text(conf)
        argv = [binary, "-p", str(root), "-c", str(root / "nginx.conf"), "-e", str(root / "error.log")]
        with running("nginx", argv, root / f"nginx-{attempt}.log") as proc:
            base = f"http://127.0.0.1:{port}"
            try:
                wait_until_serving(proc, base + "/api/auth/gateway/check", expect=404)
            except RuntimeError:
                if port_was_taken(proc) or "in use" in (root / "error.log").read_text():
                    continue
                raise RuntimeError(f"{proc.tail()}\n--- error.log ---\n{(root / 'error.log').read_text()}") from None
            yield Gateway(base, proc)
            return
    raise RuntimeError(f"nginx found no free port in {PORT_ATTEMPTS} attempts")


# -- TLS --------------------------------------------------------------------------------------


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, valid for a day, that is its own CA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "outter-auth test")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    certfile, keyfile = directory / "cert.pem", directory / "key.pem"
    certfile.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    keyfile.chmod(0o600)
    return certfile, keyfile


# -- what a test needs of the machine ----------------------------------------------------------


def in_ci() -> bool:
    """``CI`` is set to anything but empty, 0, false, no or off (``.ci/run`` exports CI=true)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no", "off")


def require(missing: str | None) -> None:
    """Go on when ``missing`` is None; else skip with it as the reason, but fail under CI.

    ``missing`` says which tool or service is absent (nginx, Apache and its modules, luajit,
    Redis, PostgreSQL). ``.ci/run`` installs and starts every one of them, so a missing one
    there is a broken CI, and a green run that skipped the gateway tests would prove nothing.
    On a developer's machine it stays a skip with its reason. Every skip for a missing tool
    or service goes through here; other skips (a test that needs PostgreSQL while the suite
    runs on SQLite) are not about the machine and stay plain skips.
    """
    if missing is None:
        return
    if in_ci():
        pytest.fail(f"{missing}: CI must provide it (CI={os.environ.get('CI')!r})", pytrace=False)
    pytest.skip(missing)


def nginx_missing() -> str | None:
    return None if shutil.which("nginx") else "nginx is not installed (apt-get install nginx)"


def luajit_missing() -> str | None:
    return None if shutil.which("luajit") else "luajit is not installed (apt-get install luajit)"


CHROMIUM = "/usr/bin/chromium"


def node_missing() -> str | None:
    """Node.js and npm run independent relying parties (openid-client) in tests/oidc."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "Node.js and npm are not installed (apt-get install nodejs npm)"
    return None


def chromium_missing() -> str | None:
    """The browser tests (tests/oidc) drive Debian's chromium with Playwright for Python."""
    if not Path(CHROMIUM).exists():
        return f"chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[dev]')"
    return None


# -- reachability of the shared backing services ----------------------------------------------


def redis_reachable() -> str | None:
    """None if Redis answers PING at REDIS_URL, else why not."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1).ping()
    except redis.RedisError as error:
        return f"Redis at {REDIS_URL} is unreachable ({type(error).__name__}: {error})"
    return None


# -- Apache httpd -------------------------------------------------------------------------------

APACHE_MODULES_DIR = Path("/usr/lib/apache2/modules")
APACHE_MODULES = {
    "mpm_event_module": "mod_mpm_event.so",
    "authn_core_module": "mod_authn_core.so",
    "authz_core_module": "mod_authz_core.so",
    "authz_user_module": "mod_authz_user.so",
    "headers_module": "mod_headers.so",
    "proxy_module": "mod_proxy.so",
    "proxy_http_module": "mod_proxy_http.so",
    "auth_openidc_module": "mod_auth_openidc.so",
}

APACHE_MAIN = """\
ServerRoot "{root}"
DefaultRuntimeDir "{root}/run"
PidFile "{root}/httpd.pid"
ErrorLog "{root}/error.log"
# auth_openidc's debug lines are read by the tests (each JWKS fetch is logged before the answer).
LogLevel warn auth_openidc:debug
Listen 127.0.0.1:{port}
ServerName 127.0.0.1:{port}
{modules}
StartServers 1
ServerLimit 2
ThreadsPerChild 8
MaxRequestWorkers 16
MinSpareThreads 4
MaxSpareThreads 16
Timeout 10
{defines}
# The service's certificate is self-signed for the test: trust it, and keep checking it.
OIDCCABundlePath "{ca_bundle}"
Include "{conf}"
"""


def apache_binary() -> str | None:
    return shutil.which("apache2") or shutil.which("httpd")


def apache_modules_missing() -> list[str]:
    return [file for file in APACHE_MODULES.values() if not (APACHE_MODULES_DIR / file).exists()]


def apache_missing() -> str | None:
    if apache_binary() is None:
        return "Apache httpd is not installed (apt-get install apache2)"
    if modules := apache_modules_missing():
        return f"Apache modules missing: {modules} (apt-get install libapache2-mod-auth-openidc)"
    return None


@dataclass
class Apache:
    base: str
    proc: Proc
    error_log: Path


@contextmanager
def apache(root: Path, defines: dict[str, str], ca_bundle: Path) -> Iterator[Apache]:
    """Apache in the foreground with deploy/apache/outter-oauth20.conf as it ships, included
    after the ``Define`` lines it needs, and only the modules it needs."""
    binary = apache_binary()
    assert binary, "Apache httpd is not installed"
    (root / "run").mkdir(parents=True, exist_ok=True)
    modules = "\n".join(f"LoadModule {name} {APACHE_MODULES_DIR / file}" for name, file in APACHE_MODULES.items())
    define_lines = "\n".join(f'Define {name} "{value}"' for name, value in defines.items())
    for attempt in range(PORT_ATTEMPTS):
        port = free_port()
        conf = root / "httpd.conf"
        conf.write_text(
            APACHE_MAIN.format(
                root=root,
                port=port,
                modules=modules,
                defines=define_lines,
                ca_bundle=ca_bundle,
                conf=DEPLOY / "apache" / "outter-oauth20.conf",
            )
        )
        argv = [binary, "-d", str(root), "-f", str(conf), "-DFOREGROUND"]
        with running("apache", argv, root / f"apache-{attempt}.log") as proc:
            base = f"http://127.0.0.1:{port}"
            try:
                wait_until_serving(proc, base + "/api/ready", expect=401)
            except RuntimeError:
                error_log = root / "error.log"
                log_text = error_log.read_text() if error_log.exists() else ""
                if not proc.alive() and "in use" in proc.tail() + log_text:
                    continue
                raise RuntimeError(f"{proc.tail()}\n--- error.log ---\n{log_text[-4000:]}") from None
            yield Apache(base, proc, root / "error.log")
            return
    raise RuntimeError(f"Apache found no free port in {PORT_ATTEMPTS} attempts")
