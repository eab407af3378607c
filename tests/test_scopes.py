"""``scopes.user_scopes``: the scopes a user gets through a client (SPEC §11)."""

from __future__ import annotations

import pytest

from outter_auth.scopes import MANAGEMENT_SCOPES, OIDC_SCOPES, role_allows, user_scopes

CLIENT = ("openid", "email", "offline_access", "content:generate", "users:read", "audit:read")


@pytest.mark.parametrize(
    ("requested", "role", "catalogue", "expected"),
    [
        pytest.param(None, "member", (), ("content:generate",), id="member-default-no-oidc"),
        pytest.param(None, "owner", (), ("audit:read", "content:generate", "users:read"), id="owner-default"),
        pytest.param(["openid", "users:read"], "member", (), ("openid",), id="management-follows-the-role"),
        pytest.param(["openid", "users:read"], "admin", (), ("openid", "users:read"), id="admin"),
        pytest.param(["content:generate"], "member", ("content:read",), (), id="outside-the-catalogue"),
        pytest.param(["content:generate"], "member", ("content:generate",), ("content:generate",), id="in-catalogue"),
        pytest.param(["projects:write", "other:thing"], "owner", (), (), id="beyond-the-client"),
        pytest.param([], "owner", (), (), id="nothing-requested"),
    ],
)
def test_requested_and_client_and_role(requested, role, catalogue, expected):
    assert user_scopes(requested, CLIENT, role, catalogue) == expected


def test_oidc_scopes_are_every_roles_and_management_scopes_the_managers():
    for scope in OIDC_SCOPES:
        assert role_allows(scope, "member", ("content:generate",))
    for scope in MANAGEMENT_SCOPES:
        assert role_allows(scope, "owner") and role_allows(scope, "admin") and not role_allows(scope, "member")
    assert not role_allows("users:read", "unknown-role")
