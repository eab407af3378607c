"""Test factories: tenants, users and logged-in actors, made through the services."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from sqlalchemy import update

from outter_auth.extensions import db
from outter_auth.models import User
from outter_auth.services import tenancy, users
from outter_auth.services.ceilings import Caller

PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class TenantRef:
    id: str
    slug: str


@dataclass
class Actor:
    """A user with a login: ``headers`` authenticate requests as them."""

    tenant_id: str
    tenant_slug: str
    user_id: str
    email: str
    role: str
    token: str = ""
    refresh_token: str = ""
    login_body: dict[str, Any] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Factory:
    def __init__(self, app: Flask) -> None:
        self.app = app

    def tenant(self, slug: str, name: str | None = None) -> TenantRef:
        with self.app.app_context():
            tenant = tenancy.find_tenant(db.session, slug) or tenancy.create_tenant(db.session, slug, name)
            return TenantRef(tenant.id, tenant.slug)

    def user(self, tenant_slug: str, email: str, role: str = "member", password: str = PASSWORD) -> str:
        """Create (or add to the tenant) a user; returns the user id."""
        tenant = self.tenant(tenant_slug)
        with self.app.app_context():
            membership = users.create_member(db.session, Caller(tenant.id, "cli"), email, password, role, 4)
            return membership.user_id

    def deactivate_account(self, user_id: str) -> None:
        """Deactivate the user in every tenant at once (no endpoint does this: the database's
        ``is_active``, as an operator would set it)."""
        with self.app.app_context():
            db.session.execute(update(User).where(User.id == user_id).values(is_active=False))
            db.session.commit()

    def actor(self, tenant_slug: str, email: str, role: str, password: str = PASSWORD) -> Actor:
        user_id = self.user(tenant_slug, email, role, password)
        tenant = self.tenant(tenant_slug)
        actor = Actor(tenant.id, tenant.slug, user_id, email, role)
        body = self.login(email, password, tenant_slug)
        actor.token, actor.refresh_token, actor.login_body = body["access_token"], body["refresh_token"], body
        return actor

    def login(self, email: str, password: str = PASSWORD, tenant: str | None = None) -> dict[str, Any]:
        payload = {"email": email, "password": password, **({"tenant": tenant} if tenant else {})}
        response = self.app.test_client().post("/api/auth/login", json=payload)
        assert response.status_code == 200, response.get_json()
        return response.get_json()
