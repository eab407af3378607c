"""Redirect URIs: which ones a client may register, and when a requested one matches.

RFC 6749 §3.1.2 and RFC 9700 §4.1.3: a requested redirect URI is compared with the
registered ones as strings, exactly; no prefix, no pattern, no normalisation, so a suffix,
a path added, another port or a userinfo part (``https://app.example@evil.example/``) never
matches. One exception, RFC 8252 §7.3: a *public* client (a native app on the user's
machine) registers a loopback IP redirect URI (``http://127.0.0.1/callback`` or
``http://[::1]/callback``) and listens on whatever port the operating system gave it, so
for those the port is not compared. A confidential client's loopback URI still matches only
exactly: it is a server, its port does not change.

What may be registered: ``https`` URIs; ``http`` only on this machine's loopback
(``127.0.0.1``, ``[::1]``, ``localhost``), for development and native apps; and the
private-use schemes of native apps (RFC 8252 §7.1), which must look like a reversed domain
name (``com.example.app:/callback``), so ``javascript:``, ``data:`` or ``file:`` never can.
Never a fragment (RFC 6749 §3.1.2) or a userinfo part.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import SplitResult, urlsplit

from outter_auth.services.exceptions import InvalidInput

MAX_LENGTH = 2000
LOOPBACK_IPS = frozenset({"127.0.0.1", "::1"})
LOOPBACK_HOSTS = LOOPBACK_IPS | {"localhost"}
# RFC 8252 §7.1: a scheme based on a domain name under the app's control, reversed.
PRIVATE_USE_SCHEME = re.compile(r"[a-z][a-z0-9-]*(\.[a-z0-9-]+)+")
# Printable ASCII without space: anything else must be percent-encoded by the client.
PRINTABLE = re.compile(r"[\x21-\x7e]+")


class InvalidRedirectUri(ValueError):
    """A redirect URI that may not be registered; the message says why."""


def check_redirect_uri(uri: str) -> str:
    """``uri`` if a client may register it, else :class:`InvalidRedirectUri`."""
    if not uri or len(uri) > MAX_LENGTH or not PRINTABLE.fullmatch(uri):
        raise InvalidRedirectUri(f"a redirect URI is 1-{MAX_LENGTH} printable characters without spaces")
    parts = _split(uri)
    if parts is None:
        raise InvalidRedirectUri(f"not a valid URI: {uri[:80]!r}")
    if "#" in uri:
        raise InvalidRedirectUri("a redirect URI must not have a fragment (#...)")
    if "@" in parts.netloc:
        raise InvalidRedirectUri("a redirect URI must not carry a user name or password")
    scheme = parts.scheme
    if scheme == "https":
        if not parts.hostname:
            raise InvalidRedirectUri("an https redirect URI needs a host")
    elif scheme == "http":
        if parts.hostname not in LOOPBACK_HOSTS:
            raise InvalidRedirectUri("http is allowed only for 127.0.0.1, [::1] and localhost; use https")
    elif not PRIVATE_USE_SCHEME.fullmatch(scheme):
        raise InvalidRedirectUri(
            f"scheme {scheme[:40]!r} is not allowed: use https, http on loopback, or a reversed domain "
            "name of your app (com.example.app:/callback)"
        )
    return uri


def check_redirect_uris(uris: Iterable[str], field: str = "redirect_uris") -> list[str]:
    """The URIs, de-duplicated in order, or :class:`InvalidInput` naming ``field``."""
    result = list(dict.fromkeys(uris))
    for uri in result:
        try:
            check_redirect_uri(uri)
        except InvalidRedirectUri as error:
            raise InvalidInput(str(error), field) from None
    return result


def matches(registered: Iterable[str], requested: str, *, public: bool) -> bool:
    """Whether ``requested`` is one of the ``registered`` redirect URIs (see the module doc)."""
    registered = tuple(registered)
    if requested in registered:
        return True
    if not public:
        return False
    wanted = _loopback_ip(requested)
    return wanted is not None and any(_loopback_ip(uri) == wanted for uri in registered)


def _loopback_ip(uri: str) -> tuple[str, str, str] | None:
    """(host, path, query) of an ``http`` loopback-IP URI with nothing else in it, else None."""
    if len(uri) > MAX_LENGTH or not PRINTABLE.fullmatch(uri) or "#" in uri:
        return None
    parts = _split(uri)
    if parts is None or parts.scheme != "http" or "@" in parts.netloc or parts.hostname not in LOOPBACK_IPS:
        return None
    return str(parts.hostname), parts.path, parts.query


def _split(uri: str) -> SplitResult | None:
    try:
        parts = urlsplit(uri)
        parts.hostname  # noqa: B018 - brackets and such are checked lazily
        parts.port  # noqa: B018 - a port that is not a number in range
    except ValueError:
        return None
    return parts if parts.scheme else None
