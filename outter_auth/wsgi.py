"""WSGI entry point, installed with the package (SPEC §13)::

gunicorn -c python:outter_auth.gunicorn_conf outter_auth.wsgi:app
"""

from __future__ import annotations

import gc
import sys

from outter_auth.app import create_app
from outter_auth.config import ConfigError, require_explicit_env

try:
    require_explicit_env()
    app = create_app()
except ConfigError as error:
    # One line, no traceback: the operator needs the reason, not our stack.
    sys.exit(f"outter-auth: refusing to start: {error}")

# Everything loaded so far (the app, its modules, the signing keys) lives as long as the
# process: move it out of the garbage collector's sight. gunicorn loads the app once in the
# master (preload_app), so the workers it forks share these pages instead of copying them as
# the collector touches them, and every collection in a worker has far less to walk (fewer,
# shorter pauses: the tail of the latency).
gc.freeze()
