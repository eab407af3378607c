"""WSGI entry point, installed with the package (SPEC §13)::

gunicorn -c python:outter_auth.gunicorn_conf outter_auth.wsgi:app
"""

from __future__ import annotations

import sys

from outter_auth.app import create_app
from outter_auth.config import ConfigError, require_explicit_env

try:
    require_explicit_env()
    app = create_app()
except ConfigError as error:
    # One line, no traceback: the operator needs the reason, not our stack.
    sys.exit(f"outter-auth: refusing to start: {error}")
