"""WSGI entry point: ``gunicorn wsgi:app`` (see gunicorn.conf.py)."""

from outter_auth.app import create_app

app = create_app()
