"""gunicorn settings for production, installed with the package (SPEC §13)::

    gunicorn -c python:outter_auth.gunicorn_conf outter_auth.wsgi:app

(``wsgi_app`` below names the app, so ``gunicorn -c python:outter_auth.gunicorn_conf`` alone
works too). gunicorn reads a config module only when told (``-c``, or ``--config`` in
``GUNICORN_CMD_ARGS``) or from ``./gunicorn.conf.py``: a source checkout's
``gunicorn.conf.py`` imports this module, so ``gunicorn wsgi:app`` there gets the same.

Every value can be overridden from the environment (``GUNICORN_*``) or the command line.
"""

import logging
import multiprocessing
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from outter_auth.gunicorn_hooks import flush_key_usage, pre_request  # noqa: F401 - pre_request: a gunicorn setting

wsgi_app = "outter_auth.wsgi:app"
bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
# Sync workers: bcrypt and RSA signing are CPU-bound, so more threads would not help.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so a slow leak can never take a node down.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "10000"))
max_requests_jitter = 1000
# Refuse oversized request lines and headers before they reach Flask.
limit_request_line = 8190
limit_request_field_size = 16384
# The app logs every request itself, as one JSON line on stderr with its request id
# (outter_auth/request_log.py, OUTTER_LOG_FORMAT), so gunicorn's own access log is off
# by default; GUNICORN_ACCESSLOG=- (or a file) turns it back on.
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Load the app once in the master so a bad configuration stops start-up with its reason.
preload_app = True
# No per-user control socket: several instances on one host would share it otherwise.
control_socket_disable = True


def when_ready(server: Any) -> None:
    """Warn at start-up when several workers run without the Redis they need to agree (issue 17.11)."""
    from outter_auth.config import ConfigError, load_settings

    try:
        settings = load_settings()
    except ConfigError:
        return  # the app itself refuses to start, with the reason
    warning = settings.unshared_state_warning(server.cfg.workers)
    if warning is not None:
        logging.getLogger("outter_auth.gunicorn").warning(warning)


# -- metrics of every worker in one place (SPEC §13, outter_auth/metrics.py) ------------------
# prometheus_client chooses its multiprocess mode when it is imported, so the folder is set
# here, before the app is loaded. Left-over files of an earlier run would be added to this
# run's totals: an operator's PROMETHEUS_MULTIPROC_DIR is emptied, ours is new and removed at exit.
_METRICS_ON = os.environ.get("OUTTER_METRICS", "").lower() in ("1", "true", "yes", "on")
_OWN_METRICS_DIR: str | None = None
if _METRICS_ON:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        for stale in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"):
            stale.unlink()
    else:
        _OWN_METRICS_DIR = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="outter-auth-metrics-")


def child_exit(server: Any, worker: Any) -> None:
    """A worker ended: its live-value files go (counters and histograms keep their totals)."""
    if _METRICS_ON:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def worker_exit(server: Any, worker: Any) -> None:
    """A worker ends (max_requests, HUP, shutdown): what it counted in its last seconds is written."""
    flush_key_usage(worker)
    if _METRICS_ON:
        from outter_auth import metrics

        metrics.flush()


def on_exit(server: Any) -> None:
    if _OWN_METRICS_DIR is not None:
        shutil.rmtree(_OWN_METRICS_DIR, ignore_errors=True)
