"""OAuth clients: registration, secrets (shown once, kept as digests) and lookup.

The first-party client (``OUTTER_FIRST_PARTY_CLIENT_ID``, default ``outter-app``) is
built in rather than stored: it exists in every deployment by construction.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from cachetools import TTLCache
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from outter_auth.models import OAuthClient
from outter_auth.scopes import MANAGEMENT_SCOPES, InvalidScopes, check_scopes
from outter_auth.services.digests import secret_digest, secret_matches
from outter_auth.services.exceptions import InvalidInput, NotFound

GRANT_TYPES = ("password", "refresh_token", "client_credentials")
SECRET_PREFIX = "ocs_"  # lets secret scanners recognise a leaked client secret
SECRET_BYTES = 32  # 256 bits


@dataclass(frozen=True)
class ClientInfo:
    """What the OAuth layer needs of a client, stored or built in."""

    id: str
    tenant_id: str | None  # None: the built-in first-party client, usable by every tenant's users
    name: str
    is_public: bool
    is_first_party: bool
    grant_types: tuple[str, ...]
    scopes: tuple[str, ...]
    redirect_uris: tuple[str, ...]
    secret_digest: bytes | None = None

    def secret_matches(self, secret: str, pepper: str) -> bool:
        return not self.is_public and secret_matches(secret, self.secret_digest, pepper)

    @classmethod
    def of(cls, client: OAuthClient) -> ClientInfo:
        return cls(
            id=client.id,
            tenant_id=client.tenant_id,
            name=client.name,
            is_public=client.is_public,
            is_first_party=client.is_first_party,
            grant_types=tuple(client.grant_types),
            scopes=tuple(client.scopes),
            redirect_uris=tuple(client.redirect_uris),
            secret_digest=client.secret_digest,
        )


def builtin_client(client_id: str, catalogue: Iterable[str]) -> ClientInfo:
    """The first-party public client that ``/api/auth/login`` acts for."""
    return ClientInfo(
        id=client_id,
        tenant_id=None,
        name="Outter app",
        is_public=True,
        is_first_party=True,
        grant_types=("password", "refresh_token"),
        scopes=tuple(dict.fromkeys([*MANAGEMENT_SCOPES, *catalogue])),
        redirect_uris=(),
    )


def find_client(db: Session, client_id: str, first_party_id: str, catalogue: Iterable[str]) -> ClientInfo | None:
    if client_id == first_party_id:
        return builtin_client(client_id, catalogue)
    if len(client_id) > 64:
        return None
    client = db.get(OAuthClient, client_id)
    return ClientInfo.of(client) if client else None


class ClientCache:
    """Client lookups for the token endpoint, cached per process for ``ttl`` seconds.

    Every token request authenticates its client; without this, that is one
    database round trip per token. Changes drop the entry at once here and, via
    the invalidation channel, in every other process.
    """

    def __init__(self, ttl: float, load: Callable[[str], ClientInfo | None]) -> None:
        self._load = load
        self._enabled = ttl > 0
        self._cache: TTLCache[str, ClientInfo | None] = TTLCache(10_000, ttl or 1, timer=time.monotonic)
        self._lock = threading.Lock()

    def get(self, client_id: str) -> ClientInfo | None:
        if self._enabled:
            with self._lock:
                if client_id in self._cache:
                    cached: ClientInfo | None = self._cache[client_id]
                    return cached
        info = self._load(client_id)
        if self._enabled:
            with self._lock:
                self._cache[client_id] = info
        return info

    def forget(self, client_id: str) -> None:
        with self._lock:
            self._cache.pop(client_id, None)

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def check_grant_types(grant_types: Iterable[str], *, public: bool, first_party: bool) -> list[str]:
    result = list(dict.fromkeys(grant_types))
    if not result:
        raise InvalidInput("give at least one grant type", "grant_types")
    for grant in result:
        if grant not in GRANT_TYPES:
            raise InvalidInput(f"unsupported grant type {grant[:40]!r}; use {', '.join(GRANT_TYPES)}", "grant_types")
    if "password" in result and not first_party:
        # RFC 9700 §2.4: the password grant only for clients we fully trust.
        raise InvalidInput("the password grant is for first-party clients only", "grant_types")
    if "client_credentials" in result and public:
        raise InvalidInput("a public client has no secret, so it cannot use client_credentials", "grant_types")
    return result


def create_client(
    db: Session,
    tenant_id: str,
    name: str,
    grant_types: Iterable[str],
    scopes: Iterable[str],
    *,
    pepper: str,
    catalogue: Iterable[str] = (),
    public: bool = False,
    first_party: bool = False,
    redirect_uris: Iterable[str] = (),
) -> tuple[OAuthClient, str | None]:
    """Register a client; returns it and its secret, the only time the secret exists in clear."""
    grants = check_grant_types(grant_types, public=public, first_party=first_party)
    secret = None if public else new_secret()
    client = OAuthClient(
        tenant_id=tenant_id,
        name=name,
        grant_types=grants,
        scopes=_scopes(scopes, catalogue),
        redirect_uris=list(redirect_uris),
        is_first_party=first_party,
        secret_digest=secret_digest(secret, pepper) if secret else None,
    )
    db.add(client)
    db.commit()
    return client, secret


def clients_query(tenant_id: str) -> Select[Any]:
    return (
        select(OAuthClient).where(OAuthClient.tenant_id == tenant_id).order_by(OAuthClient.created_at, OAuthClient.id)
    )


def get_client(db: Session, tenant_id: str, client_id: str) -> OAuthClient:
    client = db.scalars(
        select(OAuthClient).where(OAuthClient.id == client_id, OAuthClient.tenant_id == tenant_id)
    ).first()
    if client is None:
        raise NotFound("client not found")
    return client


def update_client(
    db: Session, tenant_id: str, client_id: str, catalogue: Iterable[str] = (), **changes: Any
) -> OAuthClient:
    client = get_client(db, tenant_id, client_id)
    if "grant_types" in changes:
        changes["grant_types"] = check_grant_types(
            changes["grant_types"], public=client.is_public, first_party=client.is_first_party
        )
    if "scopes" in changes:
        changes["scopes"] = _scopes(changes["scopes"], catalogue)
    for name, value in changes.items():
        setattr(client, name, value)
    db.commit()
    return client


def rotate_secret(db: Session, tenant_id: str, client_id: str, pepper: str) -> tuple[OAuthClient, str]:
    """A new secret at once; the old one stops working (clients are few and redeployable)."""
    client = get_client(db, tenant_id, client_id)
    if client.is_public:
        raise InvalidInput("a public client has no secret to rotate")
    secret = new_secret()
    client.secret_digest = secret_digest(secret, pepper)
    db.commit()
    return client, secret


def delete_client(db: Session, tenant_id: str, client_id: str) -> OAuthClient:
    client = get_client(db, tenant_id, client_id)
    db.delete(client)
    db.commit()
    return client


def _scopes(scopes: Iterable[str], catalogue: Iterable[str]) -> list[str]:
    try:
        return check_scopes(scopes, catalogue)
    except InvalidScopes as error:
        raise InvalidInput(str(error), "scopes") from None
