"""The OAuth 2.0 grant types this service supports: the one list (STYLE 13).

Client registration (REST and CLI), the token endpoint's schema, discovery's
``grant_types_supported`` and the Authlib wiring are all derived from ``GRANT_TYPES``;
a name not in it is an error everywhere, never a fall-through to a default.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from outter_auth.services.exceptions import InvalidInput


@dataclass(frozen=True)
class GrantType:
    name: str
    summary: str
    # RFC 9700 §2.4: the resource owner's password only for clients we fully trust.
    first_party_only: bool = False
    # A public client has no secret to authenticate this grant with.
    confidential_only: bool = False
    # The grant sends the browser back to the client: it needs a registered redirect URI.
    redirects: bool = False


GRANT_TYPES: dict[str, GrantType] = {
    grant.name: grant
    for grant in (
        GrantType(
            "authorization_code",
            "a user signed in through the browser: the code, its PKCE verifier and redirect URI (SPEC §11)",
            redirects=True,
        ),
        GrantType("refresh_token", "a new access token for a session, rotating its refresh token"),
        GrantType("client_credentials", "a token for the client itself (machines)", confidential_only=True),
        GrantType("password", "a user's email and password (first-party clients only)", first_party_only=True),
    )
}
NAMES: tuple[str, ...] = tuple(GRANT_TYPES)


def check_grant_types(
    grant_types: Iterable[str], *, public: bool, first_party: bool, redirect_uris: Iterable[str] | None = None
) -> list[str]:
    """The grant types a client may be registered with, de-duplicated; InvalidInput otherwise.
    ``redirect_uris``: the client's, when known (a grant that redirects needs one)."""
    result = list(dict.fromkeys(grant_types))
    if not result:
        raise InvalidInput("give at least one grant type", "grant_types")
    for name in result:
        grant = GRANT_TYPES.get(name)
        if grant is None:
            raise InvalidInput(f"unsupported grant type {name[:40]!r}; use {', '.join(NAMES)}", "grant_types")
        if grant.first_party_only and not first_party:
            raise InvalidInput(f"the {name} grant is for first-party clients only", "grant_types")
        if grant.confidential_only and public:
            raise InvalidInput(f"a public client has no secret, so it cannot use {name}", "grant_types")
        if grant.redirects and redirect_uris is not None and not list(redirect_uris):
            raise InvalidInput(f"the {name} grant needs at least one redirect URI", "redirect_uris")
    return result
