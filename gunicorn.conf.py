"""gunicorn settings of a source checkout: ``gunicorn wsgi:app`` picks this file up.

The settings live in the package (``outter_auth/gunicorn_conf.py``), so an installed package
runs with the same: ``gunicorn -c python:outter_auth.gunicorn_conf outter_auth.wsgi:app``.
"""

from outter_auth.gunicorn_conf import *  # noqa: F403 (gunicorn reads every setting by name)
