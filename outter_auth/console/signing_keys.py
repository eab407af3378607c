"""Signing keys, read only (SPEC §12): what the JWKS publishes and which key signs. Keys are
generated, activated and retired with ``outter-auth keys`` on the server, never from a page."""

from __future__ import annotations

from flask import Response

from outter_auth.console.access import signed_in
from outter_auth.console.blueprint import blp
from outter_auth.console.render import page
from outter_auth.runtime import runtime


@blp.get("/signing-keys", endpoint="signing_keys")
@signed_in()
def signing_keys() -> Response:
    ring = runtime().keystore.reload(force=True)
    rows = [
        {
            "kid": state.record.kid,
            "status": state.status,
            "created_at": state.record.created_at,
            "activates_at": state.record.activates_at,
            "retired_since": state.retired_since,
            "published_until": (
                state.retired_since + ring.token_lifetime
                if state.retired_since is not None and state.published
                else None
            ),
            "published": state.published,
        }
        for state in reversed(ring.states())
    ]
    return page("console/signing_keys.html", rows=rows)
