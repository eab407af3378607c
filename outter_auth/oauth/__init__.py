"""Authlib's OAuth 2.0 authorization server, wired in one place (``config_oauth``).

Authlib does the protocol: grant dispatch, client authentication, RFC 6749 §5.2
errors, RFC 7009 revocation and RFC 7662 introspection. Our services do the rest:
``grants`` maps each grant type of ``services.grant_types`` to an Authlib grant whose
token comes from ``services.issuance``; ``endpoints`` holds revocation and
introspection; ``clients`` is Authlib's view of our clients; ``server`` the wiring.
"""

from outter_auth.oauth.clients import AUTH_METHODS_SUPPORTED, SECRET_METHODS
from outter_auth.oauth.server import TooManyAttempts, authorization_server, config_oauth

__all__ = ["AUTH_METHODS_SUPPORTED", "SECRET_METHODS", "TooManyAttempts", "authorization_server", "config_oauth"]
