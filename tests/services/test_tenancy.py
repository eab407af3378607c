"""Projects (``services.tenancy``): what a bound caller sees, deleting a project with keys,
and slugs freed by a deletion."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from outter_auth import clock
from outter_auth.extensions import db
from outter_auth.models import ApiKey, AuditEvent, Project
from outter_auth.services import api_keys, tenancy
from outter_auth.services.api_keys import KeyDraft, Peppers
from outter_auth.services.ceilings import Caller, GrantCeiling
from outter_auth.services.exceptions import Conflict, InvalidInput, NotFound, PermissionDenied

T0 = datetime(2031, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def acme(ctx, make) -> Caller:
    """The operator of acme: unbounded."""
    return Caller(make.tenant("acme").id, "cli")


@pytest.fixture
def projects(acme) -> dict[str, str]:
    """Three projects of acme, made in this order, and one of globex: slug -> id."""
    made = {slug: tenancy.create_project(db.session, acme, slug.title(), slug).id for slug in ("web", "app", "api")}
    globex = Caller(tenancy.create_tenant(db.session, "globex").id, "cli")
    made["theirs"] = tenancy.create_project(db.session, globex, "Theirs", "theirs").id
    return made


def bound(acme: Caller, project_id: str | None = None, environment: str | None = None) -> Caller:
    return Caller(acme.tenant_id, "key_bound", GrantCeiling(environment=environment, project_id=project_id))


def listed(caller: Caller) -> list[str]:
    return [p.slug for p in db.session.scalars(tenancy.projects_query(caller))]


def key_in(acme: Caller, project_id: str, environment: str = "live") -> ApiKey:
    key, _ = api_keys.create_key(
        db.session, acme, KeyDraft("k", ["content:read"], environment, project_id), peppers=Peppers("")
    )
    return key


# --- what a caller sees ----------------------------------------------------------------------


def test_projects_query_lists_the_tenants_live_projects_in_creation_order(acme, projects):
    tenancy.delete_project(db.session, acme, projects["app"])

    assert listed(acme) == ["web", "api"]


def test_a_project_bound_caller_lists_and_gets_only_its_project(acme, projects):
    caller = bound(acme, projects["app"])

    assert listed(caller) == ["app"]
    assert tenancy.get_project(db.session, caller, projects["app"]).slug == "app"
    for other in ("web", "theirs"):
        with pytest.raises(NotFound):
            tenancy.get_project(db.session, caller, projects[other])


def test_an_environment_bound_caller_sees_every_project(acme, projects):
    """Projects have no environment: a ``test`` key sees them all (and only its keys in them)."""
    assert listed(bound(acme, environment="test")) == ["web", "app", "api"]


@pytest.mark.parametrize("which", ["theirs", "deleted", "made-up"])
def test_get_project_answers_404_for_what_the_tenant_does_not_have(acme, projects, which):
    if which == "deleted":
        tenancy.delete_project(db.session, acme, projects["web"])
    project_id = {"theirs": projects["theirs"], "deleted": projects["web"], "made-up": "prj_0000"}[which]

    with pytest.raises(NotFound):
        tenancy.get_project(db.session, acme, project_id)


def test_a_project_bound_caller_cannot_create_projects(acme, projects):
    with pytest.raises(PermissionDenied):
        tenancy.create_project(db.session, bound(acme, projects["app"]), "More", "more")

    assert listed(acme) == ["web", "app", "api"]


# --- deleting a project --------------------------------------------------------------------------


def test_a_project_with_live_keys_is_kept_without_revoke_keys(acme, projects):
    key = key_in(acme, projects["web"])

    with pytest.raises(Conflict, match="1 live API key"):
        tenancy.delete_project(db.session, acme, projects["web"])

    assert listed(acme) == ["web", "app", "api"]
    db.session.expire_all()
    assert db.session.get(ApiKey, key.id).revoked_at is None


def test_revoke_keys_revokes_them_deletes_the_project_and_audits_both(acme, projects):
    clock.freeze(T0)
    keys = sorted(key_in(acme, projects["web"], env).id for env in ("live", "test"))
    elsewhere = key_in(acme, projects["app"]).id

    revoked = tenancy.delete_project(db.session, acme, projects["web"], revoke_keys=True)

    assert sorted(revoked) == keys
    db.session.expire_all()
    assert [db.session.get(ApiKey, k).revoked_at for k in keys] == [T0, T0]
    assert db.session.get(ApiKey, elsewhere).revoked_at is None
    assert db.session.get(Project, projects["web"]).deleted_at == T0  # kept as a deleted record
    (event,) = db.session.scalars(select(AuditEvent).where(AuditEvent.type == "project.deleted"))
    assert (event.subject, event.details["slug"], sorted(event.details["revoked_keys"])) == (
        projects["web"],
        "web",
        keys,
    )


def test_a_caller_cannot_revoke_keys_beyond_its_reach(acme, projects):
    """A ``test`` key cannot end a project's ``live`` keys by deleting the project."""
    live = key_in(acme, projects["web"], "live")

    with pytest.raises(PermissionDenied):
        tenancy.delete_project(db.session, bound(acme, environment="test"), projects["web"], revoke_keys=True)

    db.session.expire_all()
    assert db.session.get(ApiKey, live.id).revoked_at is None
    assert listed(acme) == ["web", "app", "api"]


def test_a_project_without_keys_is_deleted_without_revoke_keys(acme, projects):
    assert tenancy.delete_project(db.session, acme, projects["api"]) == []
    assert listed(acme) == ["web", "app"]


# --- slugs ------------------------------------------------------------------------------------


def test_a_deleted_projects_slug_is_free_again(acme, projects):
    tenancy.delete_project(db.session, acme, projects["web"])

    again = tenancy.create_project(db.session, acme, "Web again", "web")

    assert again.id != projects["web"]
    assert listed(acme) == ["app", "api", "web"]
    assert tenancy.find_project(db.session, acme.tenant_id, "web").id == again.id


def test_a_live_slug_is_taken_in_its_tenant_only(acme, projects):
    with pytest.raises(Conflict):
        tenancy.create_project(db.session, acme, "Web 2", "web")
    with pytest.raises(Conflict):
        tenancy.update_project(db.session, acme, projects["app"], slug="web")

    assert tenancy.create_project(db.session, acme, "Theirs too", "theirs").slug == "theirs"


@pytest.mark.parametrize(
    ("name", "slug"),
    [("Content API", "content-api"), ("Café Crème", "cafe-creme"), ("  --Web--  ", "web"), ("x" * 70, "x" * 64)],
    ids=["words", "accents", "dashes-and-spaces", "too-long"],
)
def test_a_slug_is_made_from_the_name(acme, name, slug):
    assert tenancy.create_project(db.session, acme, name).slug == slug


def test_a_name_without_latin_letters_gets_a_made_up_slug(acme):
    slug = tenancy.create_project(db.session, acme, "项目").slug

    assert slug.startswith("project-") and tenancy.SLUG_PATTERN.fullmatch(slug)


@pytest.mark.parametrize("slug", ["Web", "-web", "web-", "w_b", "é", "s" * 65, ""])
def test_bad_slugs_are_refused(slug):
    with pytest.raises(InvalidInput) as refused:
        tenancy.check_slug(slug)
    assert refused.value.field == "slug"
