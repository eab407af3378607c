"""The console's forms (WTForms through Flask-WTF): each carries its CSRF token; a POST
without a valid one is refused before anything changes."""

from __future__ import annotations

from flask_wtf import FlaskForm

from outter_auth.console.once import SentOnce


class ActionForm(FlaskForm):  # type: ignore[misc]
    """A button that changes something (withdraw, revoke, deactivate): only the CSRF token."""


class SecretActionForm(SentOnce, ActionForm):
    """A button whose answer shows a secret (rotating a client's): acted on once per page view."""
