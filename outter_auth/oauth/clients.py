"""Authlib's view of our OAuth clients (stored ones and the built-in first-party client)."""

from __future__ import annotations

import re
from typing import Any

from authlib.oauth2.rfc6749 import ClientMixin
from authlib.oauth2.rfc6749.errors import InvalidScopeError

from outter_auth.runtime import runtime
from outter_auth.scopes import is_valid_scope
from outter_auth.services import redirect_uris
from outter_auth.services.clients import ClientInfo
from outter_auth.services.grant_types import GRANT_TYPES

CLIENT_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
SECRET_METHODS = ["client_secret_basic", "client_secret_post"]
ALL_METHODS = [*SECRET_METHODS, "none"]
AUTH_METHODS_SUPPORTED = ALL_METHODS


class Client(ClientMixin):  # type: ignore[misc]
    def __init__(self, info: ClientInfo, pepper: str) -> None:
        self.info = info
        self._pepper = pepper

    def get_client_id(self) -> str:
        return self.info.id

    def get_default_redirect_uri(self) -> str | None:
        return None  # SPEC §11: redirect_uri is required, never guessed

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in (scope or "").split() if s in self.info.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        """Exact match, or any port of a loopback IP URI for a public client (``services.redirect_uris``)."""
        return redirect_uris.matches(self.info.redirect_uris, redirect_uri, public=self.info.is_public)

    @property
    def client_metadata(self) -> dict[str, Any]:
        # Read by Authlib's RP-Initiated Logout endpoint.
        return {"post_logout_redirect_uris": list(self.info.post_logout_redirect_uris)}

    def check_client_secret(self, client_secret: str) -> bool:
        return self.info.secret_matches(client_secret, self._pepper)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.info.is_public:
            # RFC 7662 §2.1: introspection is for authenticated callers only.
            return method == "none" and endpoint != "introspection"
        return method in SECRET_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and self.check_grant_type("authorization_code")

    def check_grant_type(self, grant_type: str) -> bool:
        grant = GRANT_TYPES.get(grant_type)
        if grant is None or (grant.first_party_only and not self.info.is_first_party):
            return False
        return grant_type in self.info.grant_types


def query_client(client_id: str) -> Client | None:
    state = runtime()
    state.invalidation.start()
    # Ids are checked by shape first: NUL bytes or megabytes never reach the database.
    info = state.client(client_id) if CLIENT_ID.fullmatch(client_id) else None
    return Client(info, state.settings.api_key_pepper) if info else None


def check_requested_scope(request: Any) -> None:
    """Scope grammar, then the client's own scopes (RFC 6749 §3.3: invalid_scope)."""
    scope = request.payload.scope
    if not scope:
        return
    requested = scope.split()
    if not all(is_valid_scope(s) for s in requested):
        raise InvalidScopeError("malformed scope")
    if not set(requested) <= set(request.client.info.scopes):
        raise InvalidScopeError("the requested scope exceeds the scope of the client")
