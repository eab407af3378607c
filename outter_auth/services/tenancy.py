"""Tenants and projects; every project query is scoped to one tenant."""

from __future__ import annotations

import re
import secrets
import unicodedata
from typing import Any

from sqlalchemy import Select, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from outter_auth.models import ApiKey, Project, Tenant
from outter_auth.services.exceptions import Conflict, InvalidInput, NotFound

SLUG_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:64].strip("-")


def check_slug(slug: str) -> str:
    if not SLUG_PATTERN.fullmatch(slug):
        raise InvalidInput("slug must be 1-64 characters of a-z, 0-9 and '-', not starting or ending with '-'", "slug")
    return slug


def create_tenant(db: Session, slug: str, name: str | None = None) -> Tenant:
    tenant = Tenant(slug=check_slug(slug), name=name or slug)
    db.add(tenant)
    _commit_unique(db, f"a tenant with slug {slug!r} exists already")
    return tenant


def find_tenant(db: Session, ref: str) -> Tenant | None:
    """A tenant by slug or id."""
    return db.scalars(select(Tenant).where((Tenant.slug == ref) | (Tenant.id == ref))).first()


def get_tenant(db: Session, tenant_id: str) -> Tenant:
    tenant = db.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("tenant not found")
    return tenant


def projects_query(tenant_id: str) -> Select[Any]:
    return select(Project).where(Project.tenant_id == tenant_id).order_by(Project.created_at, Project.id)


def create_project(db: Session, tenant_id: str, name: str, slug: str | None = None, description: str = "") -> Project:
    # A name with no Latin letters ("项目") slugifies to nothing: make one up rather than refuse.
    slug = check_slug(slug) if slug else (slugify(name) or f"project-{secrets.token_hex(3)}")
    project = Project(tenant_id=tenant_id, name=name, slug=slug, description=description)
    db.add(project)
    _commit_unique(db, f"a project with slug {slug!r} exists already")
    return project


def get_project(db: Session, tenant_id: str, project_id: str) -> Project:
    project = db.scalars(select(Project).where(Project.id == project_id, Project.tenant_id == tenant_id)).first()
    if project is None:
        raise NotFound("project not found")
    return project


def update_project(db: Session, tenant_id: str, project_id: str, **changes: str) -> Project:
    project = get_project(db, tenant_id, project_id)
    if "slug" in changes:
        check_slug(changes["slug"])
    for name, value in changes.items():
        setattr(project, name, value)
    _commit_unique(db, "a project with that slug exists already")
    return project


def delete_project(db: Session, tenant_id: str, project_id: str) -> list[str]:
    """Delete a project and, with it, its API keys; returns those keys' ids (to drop from caches)."""
    project = get_project(db, tenant_id, project_id)
    key_ids = list(db.scalars(select(ApiKey.id).where(ApiKey.project_id == project.id)))
    db.execute(delete(ApiKey).where(ApiKey.project_id == project.id))
    db.delete(project)
    db.commit()
    return key_ids


def _commit_unique(db: Session, message: str) -> None:
    try:
        db.commit()
    except IntegrityError:
        db.rollback()
        raise Conflict(message) from None
