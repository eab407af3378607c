"""Objects of a tenant, one kind per id the management API takes in its paths.

``KINDS`` is keyed by the path argument's name (``key_id``, ``user_id``, ...), as read
from the url_map by ``routes.py``; ``BODIES`` holds the bodies to send to each by-id
operation. A by-id endpoint whose argument or operation is missing here fails the
cross-tenant and odd-id tables, so a new endpoint cannot go untested (an entry for a route
the app does not have is harmless: it is simply never used).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask.testing import FlaskClient

from tests.api_key_helpers import create_key
from tests.assertions import SPEC_MANAGEMENT_SCOPES
from tests.factories import PASSWORD, Actor, Factory
from tests.oauth_helpers import basic_auth

NO_BODY = None
# Every management scope: an API key may read clients with clients:read, and never changes one
# (a client would escape the key's environment: issue 17, F1), so another tenant's client is a
# 404 to it like everything else (a made-up id is, too).
KEY_SCOPES = sorted(SPEC_MANAGEMENT_SCOPES)


@dataclass(frozen=True)
class Made:
    """An object as made: its id, a secret that makes it usable, and text that names it."""

    id: str
    secret: str | None
    names: tuple[str, ...]


@dataclass(frozen=True)
class Kind:
    collection: str
    make: Callable[[FlaskClient, Factory, Actor, str], Made]  # (client, factory, owner of the tenant, label)
    works: Callable[[FlaskClient, Made], bool]  # the object still does what it did


def _key(client: FlaskClient, make: Factory, owner: Actor, label: str) -> Made:
    name = f"{label} key"
    created = create_key(client, owner.headers, name=name, scopes=[*KEY_SCOPES, "content:x"])
    return Made(created["id"], created["key"], (name,))


def _key_works(client: FlaskClient, made: Made) -> bool:
    response = client.post("/api/auth/api-keys/verify", headers={"X-API-Key": str(made.secret)})
    return response.status_code == 200 and response.get_json()["key_id"] == made.id


def _user(client: FlaskClient, make: Factory, owner: Actor, label: str) -> Made:
    email = f"{label}-admin@{owner.tenant_slug}.test"
    return Made(make.user(owner.tenant_slug, email, "admin"), PASSWORD, (email,))


def _user_works(client: FlaskClient, made: Made) -> bool:
    response = client.post("/api/auth/login", json={"email": made.names[0], "password": made.secret})
    return response.status_code == 200


def _project(client: FlaskClient, make: Factory, owner: Actor, label: str) -> Made:
    name = f"{label} project"
    response = client.post("/api/auth/projects", json={"name": name, "slug": label}, headers=owner.headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return Made(response.get_json()["id"], None, (name,))


def _project_works(client: FlaskClient, made: Made) -> bool:
    return True  # a project has no credential; the owner's snapshot shows it unchanged


def _client(client: FlaskClient, make: Factory, owner: Actor, label: str) -> Made:
    name = f"{label} client"
    body = {"name": name, "grant_types": ["client_credentials"], "scopes": ["users:read"]}
    response = client.post("/api/auth/clients", json=body, headers=owner.headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    created = response.get_json()
    return Made(created["client_id"], created["client_secret"], (name,))


def _client_works(client: FlaskClient, made: Made) -> bool:
    response = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers=basic_auth(made.id, str(made.secret))
    )
    return response.status_code == 200


KINDS: dict[str, Kind] = {
    "key_id": Kind("/api/auth/api-keys", _key, _key_works),
    "user_id": Kind("/api/auth/users", _user, _user_works),
    "project_id": Kind("/api/auth/projects", _project, _project_works),
    "client_id": Kind("/api/auth/clients", _client, _client_works),
}

# (path argument, method, what follows the id in the rule) -> the bodies to try.
BODIES: dict[tuple[str, str, str], list[Any]] = {
    ("key_id", "GET", ""): [NO_BODY],
    ("key_id", "PATCH", ""): [{"name": "hijacked"}, {"scopes": ["content:x"]}, {"expires_at": None}],
    ("key_id", "DELETE", ""): [NO_BODY],
    ("key_id", "POST", "/rotate"): [{}, {"grace_period_seconds": 0}],
    ("key_id", "GET", "/usage"): [NO_BODY],
    ("user_id", "GET", ""): [NO_BODY],
    ("user_id", "PATCH", ""): [{"role": "member"}, {"is_active": False}],
    ("user_id", "DELETE", ""): [NO_BODY],
    ("user_id", "POST", "/unlock"): [NO_BODY],
    ("project_id", "GET", ""): [NO_BODY],
    ("project_id", "PATCH", ""): [{"name": "Hijacked", "slug": "hijacked", "description": "x"}],
    ("project_id", "DELETE", ""): [NO_BODY],
    ("client_id", "GET", ""): [NO_BODY],
    ("client_id", "PATCH", ""): [{"name": "Hijacked"}, {"scopes": ["users:read", "users:write"]}],
    ("client_id", "DELETE", ""): [NO_BODY],
    ("client_id", "POST", "/rotate-secret"): [NO_BODY],
}


def tail_of(rule: str) -> str:
    """What follows the id in a rule: "" or "/rotate" and the like."""
    return rule.rsplit(">", 1)[1]


def unknown_id_like(object_id: str) -> str:
    """An id of the same shape that names nothing: the prefix kept, the rest zeros."""
    prefix, _, rest = object_id.partition("_")
    return f"{prefix}_{'0' * len(rest)}" if rest else "0" * len(object_id)


def manager_with_all_scopes(client: FlaskClient, owner: Actor) -> dict[str, str]:
    """Headers of an API key of the owner's tenant holding every SPEC management scope."""
    created = create_key(client, owner.headers, name="manager key", scopes=KEY_SCOPES)
    return {"X-API-Key": created["key"]}
