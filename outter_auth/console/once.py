"""Forms that answer with a secret are acted on once per page view.

The answer that shows a new API key or client secret is the answer to a POST (the secret is
never stored, so it cannot travel through a redirect). Reloading that answer makes the browser
send the POST again, which would make a second key and show that one. Each such form carries
a random token; the signed session cookie remembers the last tokens acted on, and a token seen
before gets the list with a message instead of a second secret.
"""

from __future__ import annotations

import secrets

from flask import session
from wtforms import HiddenField

SESSION_KEY = "console_sent_forms"
REMEMBERED = 20  # the most recent forms of this browser


class SentOnce:
    """A form mixin: the hidden ``once`` token (made for each page view)."""

    once = HiddenField()

    def fresh_token(self) -> None:
        if not self.once.data:  # type: ignore[has-type]
            self.once.data = secrets.token_urlsafe(16)


def already_sent(token: str | None) -> bool:
    return bool(token) and token in session.get(SESSION_KEY, [])


def mark_sent(token: str | None) -> None:
    if token:
        session[SESSION_KEY] = [*session.get(SESSION_KEY, [])[-(REMEMBERED - 1) :], token]
