"""WSGI entry point of a source checkout: ``gunicorn wsgi:app`` (see gunicorn.conf.py).

The same app as the installed package's ``outter_auth.wsgi:app``.
"""

from outter_auth.wsgi import app

__all__ = ["app"]
