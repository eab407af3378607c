"""OAuth clients: registration, secrets (shown once, kept as digests) and lookup.

The first-party client (``OUTTER_FIRST_PARTY_CLIENT_ID``, default ``outter-app``) is
built in rather than stored: it exists in every deployment by construction.

A caller can only register or change a client whose scopes lie within its own, and a
credential bound to an environment, a project or a lifetime cannot manage clients at
all (a client has none of those bounds: ``services.ceilings``). Every change is
audited and announced in its own transaction, so token endpoints everywhere drop the
cached client once it commits.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from outter_auth.models import OAuthClient
from outter_auth.scopes import MANAGEMENT_SCOPES, OIDC_SCOPES, InvalidScopes, check_scopes
from outter_auth.services import audit, changes
from outter_auth.services.ceilings import Caller, Shape, refuse_escalation
from outter_auth.services.digests import secret_digest, secret_matches
from outter_auth.services.exceptions import Conflict, InvalidInput, NotFound
from outter_auth.services.grant_types import check_grant_types
from outter_auth.services.redirect_uris import check_redirect_uris

SECRET_PREFIX = "ocs_"  # lets secret scanners recognise a leaked client secret
SECRET_BYTES = 32  # 256 bits
KIND = "OAuth client"


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
    post_logout_redirect_uris: tuple[str, ...] = ()
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
            post_logout_redirect_uris=tuple(client.post_logout_redirect_uris),
            secret_digest=client.secret_digest,
        )


@dataclass(frozen=True)
class ClientDraft:
    """What a new client should be."""

    name: str
    grant_types: Iterable[str]
    scopes: Iterable[str]
    public: bool = False
    first_party: bool = False  # only the operator (CLI) makes these
    redirect_uris: Iterable[str] = ()
    post_logout_redirect_uris: Iterable[str] = ()


def builtin_client(client_id: str, catalogue: Iterable[str], redirect_uris: Iterable[str] = ()) -> ClientInfo:
    """The first-party public client that ``/api/auth/login`` acts for, which also signs users in
    through the browser (to ``OUTTER_FIRST_PARTY_REDIRECT_URIS``)."""
    return ClientInfo(
        id=client_id,
        tenant_id=None,
        name="Outter",
        is_public=True,
        is_first_party=True,
        grant_types=("authorization_code", "password", "refresh_token"),
        scopes=tuple(dict.fromkeys([*MANAGEMENT_SCOPES, *OIDC_SCOPES, *catalogue])),
        redirect_uris=tuple(redirect_uris),
    )


def find_client(
    db: Session, client_id: str, first_party_id: str, catalogue: Iterable[str], first_party_redirect_uris: Iterable[str]
) -> ClientInfo | None:
    if client_id == first_party_id:
        return builtin_client(client_id, catalogue, first_party_redirect_uris)
    if len(client_id) > 64:
        return None
    client = db.get(OAuthClient, client_id)
    return ClientInfo.of(client) if client else None


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def create_client(
    db: Session, caller: Caller, draft: ClientDraft, *, pepper: str, catalogue: Iterable[str] = ()
) -> tuple[OAuthClient, str | None]:
    """Register a client; returns it and its secret, the only time the secret exists in clear."""
    redirect_uris = check_redirect_uris(draft.redirect_uris)
    post_logout_redirect_uris = check_redirect_uris(draft.post_logout_redirect_uris, "post_logout_redirect_uris")
    grants = check_grant_types(
        draft.grant_types, public=draft.public, first_party=draft.first_party, redirect_uris=redirect_uris
    )
    scopes = _scopes(draft.scopes, catalogue)
    refuse_escalation(db, caller, Shape(KIND, frozenset(scopes)), event="client.escalation_refused", subject=None)
    secret = None if draft.public else new_secret()
    client = OAuthClient(
        tenant_id=caller.tenant_id,
        name=draft.name,
        grant_types=grants,
        scopes=scopes,
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=post_logout_redirect_uris,
        is_first_party=draft.first_party,
        secret_digest=secret_digest(secret, pepper) if secret else None,
    )
    db.add(client)
    db.flush()
    _changed(db, caller, "client.created", client, {"grant_types": grants, "scopes": scopes})
    db.commit()
    return client, secret


def clients_query(caller: Caller) -> Select[Any]:
    return (
        select(OAuthClient)
        .where(OAuthClient.tenant_id == caller.tenant_id)
        .order_by(OAuthClient.created_at, OAuthClient.id)
    )


def get_client(db: Session, caller: Caller, client_id: str) -> OAuthClient:
    client = db.scalars(
        select(OAuthClient).where(OAuthClient.id == client_id, OAuthClient.tenant_id == caller.tenant_id)
    ).first()
    if client is None:
        raise NotFound("client not found")
    return client


def update_client(
    db: Session, caller: Caller, client_id: str, wanted: dict[str, Any], *, catalogue: Iterable[str] = ()
) -> OAuthClient:
    client = _writable(db, caller, client_id)
    for field in ("redirect_uris", "post_logout_redirect_uris"):
        if field in wanted:
            wanted[field] = check_redirect_uris(wanted[field], field)
    if "grant_types" in wanted or "redirect_uris" in wanted:
        try:
            grants = check_grant_types(
                wanted.get("grant_types", client.grant_types),
                public=client.is_public,
                first_party=client.is_first_party,
                redirect_uris=wanted.get("redirect_uris", client.redirect_uris),
            )
        except InvalidInput as error:
            # Grant types a new client could ask for, refused for what this one is (public, not
            # first-party, or left without a redirect URI): a conflict with the client's state,
            # not malformed input.
            raise Conflict(str(error)) from None
        if "grant_types" in wanted:
            wanted["grant_types"] = grants
    if "scopes" in wanted:
        wanted["scopes"] = _scopes(wanted["scopes"], catalogue)
        shape = Shape(KIND, frozenset(wanted["scopes"]))
        refuse_escalation(db, caller, shape, event="client.escalation_refused", subject=client_id)
    for name, value in wanted.items():
        setattr(client, name, value)
    _changed(db, caller, "client.updated", client, {"changed": sorted(wanted)})
    db.commit()
    return client


def rotate_secret(db: Session, caller: Caller, client_id: str, *, pepper: str) -> tuple[OAuthClient, str]:
    """A new secret at once; the old one stops working (clients are few and redeployable)."""
    client = _writable(db, caller, client_id)
    if client.is_public:
        raise InvalidInput("a public client has no secret to rotate")
    secret = new_secret()
    client.secret_digest = secret_digest(secret, pepper)
    _changed(db, caller, "client.updated", client, {"secret_rotated": True})
    db.commit()
    return client, secret


def delete_client(db: Session, caller: Caller, client_id: str) -> None:
    """Delete a client: its tokens are refused from then on, its sessions cannot be refreshed."""
    client = _writable(db, caller, client_id)
    _changed(db, caller, "client.updated", client, {"deleted": True})
    db.delete(client)
    db.commit()


def _writable(db: Session, caller: Caller, client_id: str) -> OAuthClient:
    """The client, if the caller may change it: a client beyond the caller's power is off limits."""
    client = get_client(db, caller, client_id)
    shape = Shape(KIND, frozenset(client.scopes))
    refuse_escalation(db, caller, shape, event="client.escalation_refused", subject=client.id)
    return client


def _changed(db: Session, caller: Caller, event: str, client: OAuthClient, details: dict[str, Any]) -> None:
    changes.announce(db, "client", client.id)
    audit.record(
        db,
        event,
        tenant_id=caller.tenant_id,
        actor=caller.actor,
        subject=client.id,
        origin=caller.origin,
        details=details,
        commit=False,
    )


def _scopes(scopes: Iterable[str], catalogue: Iterable[str]) -> list[str]:
    try:
        return check_scopes(scopes, catalogue)
    except InvalidScopes as error:
        raise InvalidInput(str(error), "scopes") from None
