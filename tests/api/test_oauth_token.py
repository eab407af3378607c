"""POST /oauth/token (RFC 6749): every grant, client authentication, errors (§5.2), token shape (RFC 9068).

Clients come from the CLI like an operator would make them:
``machine`` (client_credentials), ``web_app`` (a tenant's confidential first-party
app: password + refresh_token), ``mobile`` (a tenant's public first-party app) and the
built-in public ``outter-app``.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from sqlalchemy import update

from outter_auth.app import create_app
from outter_auth.extensions import db
from outter_auth.models import OAuthClient as OAuthClientRow
from tests.assertions import SPEC_MANAGEMENT_SCOPES
from tests.factories import PASSWORD, Actor, Factory
from tests.oauth_helpers import (
    FIRST_PARTY,
    OUTTER_APP,
    OAuthClient,
    assert_oauth_error,
    assert_token_response,
    basic_auth,
    bearer,
    create_client,
    password_grant,
    refresh_grant,
    token_request,
    unverified_claims,
    verify_access_token,
)

MANAGEMENT_SCOPES = SPEC_MANAGEMENT_SCOPES


# --- one table of grants made by confidential clients ------------------------------------------


@dataclass
class GrantCase:
    oauth_client: OAuthClient
    form: Callable[[], dict[str, str]]  # a fresh, valid form each call (refresh tokens are single-use)
    has_refresh_token: bool


def _refresh_form(client, oauth_client: OAuthClient, email: str) -> Callable[[], dict[str, str]]:
    def form() -> dict[str, str]:
        response = password_grant(client, oauth_client, email, PASSWORD, method="basic")
        body = assert_token_response(response)
        return {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}

    return form


@pytest.fixture(params=["password", "refresh_token", "client_credentials"])
def grant(request, client, owner: Actor, machine: OAuthClient, web_app: OAuthClient) -> GrantCase:
    if request.param == "password":
        return GrantCase(
            web_app,
            lambda: {"grant_type": "password", "username": owner.email, "password": PASSWORD},
            has_refresh_token=True,
        )
    if request.param == "refresh_token":
        return GrantCase(web_app, _refresh_form(client, web_app, owner.email), has_refresh_token=True)
    return GrantCase(machine, lambda: {"grant_type": "client_credentials"}, has_refresh_token=False)


@pytest.mark.parametrize("method", ["basic", "post"])
def test_confidential_client_gets_tokens_with_either_secret_method(client, grant: GrantCase, method: str):
    response = token_request(client, grant.form(), grant.oauth_client, method)

    body = assert_token_response(response, refresh=grant.has_refresh_token)
    claims = verify_access_token(client, body["access_token"])
    assert claims["client_id"] == grant.oauth_client.client_id


WRONG_SECRETS = [
    pytest.param("basic", "ocs_not-the-secret", id="basic-wrong"),
    pytest.param("post", "ocs_not-the-secret", id="post-wrong"),
    pytest.param("basic", "", id="basic-empty"),
]


@pytest.mark.parametrize(("method", "secret"), WRONG_SECRETS)
def test_wrong_secret_is_invalid_client_and_spends_nothing(client, grant: GrantCase, method: str, secret: str):
    form = grant.form()
    wrong = OAuthClient(grant.oauth_client.client_id, secret)
    if method == "basic":
        response = client.post("/oauth/token", data=form, headers=basic_auth(wrong.client_id, secret))
    else:
        response = token_request(client, form, wrong, "post")

    assert_oauth_error(response, 401, "invalid_client")
    # Nothing was spent: the same form still works with the right secret (a refresh token is not burnt).
    assert_token_response(token_request(client, form, grant.oauth_client), refresh=grant.has_refresh_token)


@pytest.mark.parametrize("method", ["basic", "post", "none"])
def test_unknown_client_is_invalid_client(client, grant: GrantCase, method: str):
    unknown = OAuthClient("cli_doesnotexist", "ocs_whatever")
    response = token_request(client, grant.form(), unknown, method)
    assert_oauth_error(response, 401, "invalid_client")


def test_confidential_client_sending_no_secret_is_refused(client, grant: GrantCase):
    form = grant.form()
    response = token_request(client, form, grant.oauth_client, "none")  # client_id only, as a public client would

    assert_oauth_error(response, 401, "invalid_client")
    assert_token_response(token_request(client, form, grant.oauth_client), refresh=grant.has_refresh_token)


def test_no_client_at_all_is_invalid_client(client, grant: GrantCase):
    assert_oauth_error(token_request(client, grant.form()), 401, "invalid_client")


MALFORMED_CLIENT_AUTH = [
    pytest.param({"Authorization": "Basic !!!not-base64"}, {}, id="basic-not-base64"),
    pytest.param({"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()}, {}, id="basic-no-colon"),
    pytest.param({"Authorization": "Basic"}, {}, id="basic-empty"),
    pytest.param({"Authorization": "Bearer abc"}, {}, id="bearer-instead"),
    pytest.param({}, {"client_id": "x" * 5000, "client_secret": "y"}, id="huge-client-id"),
    pytest.param({}, {"client_id": "", "client_secret": ""}, id="empty-form-credentials"),
]


@pytest.mark.parametrize(("headers", "form"), MALFORMED_CLIENT_AUTH)
def test_malformed_client_authentication_is_invalid_client(client, owner, headers, form):
    response = client.post("/oauth/token", data={"grant_type": "client_credentials", **form}, headers=headers)
    assert_oauth_error(response, 401, "invalid_client")


NUL = "a\x00b"
SURROGATE = "%ED%A0%80"  # a lone UTF-16 surrogate, percent-encoded as CESU-8


BAD_CHARACTERS = [
    pytest.param(
        {"grant_type": "password", "client_id": FIRST_PARTY, "username": NUL, "password": PASSWORD},
        {},
        400,
        "invalid_grant",
        id="nul-username",
    ),
    pytest.param(
        {"grant_type": "password", "client_id": FIRST_PARTY, "username": "owner@acme.test", "password": NUL},
        {},
        400,
        "invalid_grant",
        id="nul-password",
    ),
    pytest.param(
        {
            "grant_type": "password",
            "client_id": FIRST_PARTY,
            "username": "owner@acme.test",
            "password": PASSWORD,
            "tenant": NUL,
        },
        {},
        400,
        "invalid_grant",
        id="nul-tenant",
    ),
    pytest.param(
        {"grant_type": "refresh_token", "client_id": FIRST_PARTY, "refresh_token": NUL},
        {},
        400,
        "invalid_grant",
        id="nul-refresh-token",
    ),
    pytest.param(
        {
            "grant_type": "password",
            "client_id": FIRST_PARTY,
            "username": "owner@acme.test",
            "password": PASSWORD,
            "scope": NUL,
        },
        {},
        400,
        "invalid_scope",
        id="nul-scope",
    ),
    pytest.param(
        {"grant_type": "client_credentials", "client_id": NUL, "client_secret": "ocs_x"},
        {},
        401,
        "invalid_client",
        id="nul-client-id-form",
    ),
    pytest.param(
        {"grant_type": "client_credentials"},
        basic_auth(NUL, "ocs_x"),
        401,
        "invalid_client",
        id="nul-client-id-basic",
    ),
    pytest.param(
        {"grant_type": "password", "client_id": NUL, "username": "owner@acme.test", "password": PASSWORD},
        {},
        401,
        "invalid_client",
        id="nul-client-id-public",
    ),
]


@pytest.mark.parametrize(("form", "headers", "status", "error"), BAD_CHARACTERS)
def test_nul_bytes_are_refused_like_any_bad_value(client, owner: Actor, form, headers, status: int, error: str):
    """SPEC §4: bad input of any kind is a 4xx, never a 500."""
    assert_oauth_error(client.post("/oauth/token", data=form, headers=headers), status, error)


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        pytest.param(
            f"grant_type=password&client_id=outter-app&username={SURROGATE}&password=x",
            400,
            "invalid_grant",
            id="surrogate-username",
        ),
        pytest.param(
            f"grant_type=client_credentials&client_id={SURROGATE}&client_secret=x",
            401,
            "invalid_client",
            id="surrogate-client-id",
        ),
        pytest.param(
            "grant_type=password&client_id=outter-app&username=%FF%FE&password=%FF",
            400,
            "invalid_grant",
            id="invalid-utf8",
        ),
    ],
)
def test_undecodable_form_values_are_refused(client, owner: Actor, body: str, status: int, error: str):
    response = client.post("/oauth/token", data=body, content_type="application/x-www-form-urlencoded")
    assert_oauth_error(response, status, error)


def test_two_client_authentication_methods_at_once_are_invalid_request(client, owner, machine, app):
    other = create_client(app, "Other", "client_credentials", scope="users:read")
    form = {"grant_type": "client_credentials", "client_id": other.client_id, "client_secret": other.secret}

    response = client.post("/oauth/token", data=form, headers=basic_auth(machine.client_id, machine.secret))

    if response.status_code == 200:  # at the very least the token must not be for the form's client
        assert unverified_claims(response.get_json()["access_token"])["client_id"] == machine.client_id
    assert_oauth_error(response, 400, "invalid_request")


@pytest.mark.parametrize("repeated", ["grant_type", "scope"])
def test_repeated_parameter_is_invalid_request(client, owner, machine, repeated: str):
    pairs = [("grant_type", "client_credentials"), ("scope", "users:read")]
    pairs.append((repeated, "password" if repeated == "grant_type" else "content:generate"))
    body = urlencode(pairs)

    response = client.post(
        "/oauth/token",
        data=body,
        content_type="application/x-www-form-urlencoded",
        headers=basic_auth(machine.client_id, machine.secret),
    )

    assert_oauth_error(response, 400, "invalid_request")


@pytest.mark.parametrize("url", ["/oauth/token", "/oauth/revoke", "/oauth/introspect"])
@pytest.mark.parametrize("name", ["\x1f", "caf\u00e9", 'a"b', "a\\b"])
def test_a_repeated_parameter_with_an_odd_name_is_invalid_request_not_500(client, machine, url: str, name: str):
    """RFC 6749 §5.2 limits what error_description may hold; the name is not echoed then."""
    body = urlencode([(name, "a"), (name, "b"), ("token", "x"), ("grant_type", "client_credentials")])

    response = client.post(
        url,
        data=body,
        content_type="application/x-www-form-urlencoded",
        headers=basic_auth(machine.client_id, machine.secret),
    )

    assert (
        assert_oauth_error(response, 400, "invalid_request")["error_description"]
        == "a parameter was sent more than once"
    )


def test_json_body_is_not_a_token_request(client, machine: OAuthClient):
    response = client.post(
        "/oauth/token",
        json={"grant_type": "client_credentials"},
        headers=basic_auth(machine.client_id, machine.secret),
    )
    assert_oauth_error(response, 400, "invalid_request")


# --- request errors -----------------------------------------------------------------------------


CLIENTS_FOR_ERRORS = ["outter-app", "machine"]


@pytest.fixture(params=CLIENTS_FOR_ERRORS)
def any_client(request, machine: OAuthClient) -> tuple[OAuthClient, str]:
    return (OUTTER_APP, "none") if request.param == "outter-app" else (machine, "basic")


@pytest.mark.parametrize("form", [{}, {"grant_type": ""}, {"scope": "users:read"}], ids=["absent", "empty", "other"])
def test_missing_grant_type_is_invalid_request(client, any_client, form):
    oauth_client, method = any_client
    assert_oauth_error(token_request(client, form, oauth_client, method), 400, "invalid_request")


@pytest.mark.parametrize(
    "grant_type",
    ["foo", "implicit", "urn:ietf:params:oauth:grant-type:device_code", "AUTHORIZATION_CODE", "PASSWORD"],
)
def test_unsupported_grant_type(client, any_client, grant_type: str):
    oauth_client, method = any_client
    response = token_request(client, {"grant_type": grant_type, "code": "x"}, oauth_client, method)
    assert_oauth_error(response, 400, "unsupported_grant_type")


def test_authorization_code_grant_needs_the_grant_and_a_code_that_exists(client, machine: OAuthClient):
    """SPEC §11: the code grant exists; a client not registered for it is refused, and a code
    that was never issued is invalid_grant (tests/oidc covers the whole flow)."""
    form = {"grant_type": "authorization_code", "code": "x" * 43, "redirect_uri": "https://app.example/cb"}
    assert_oauth_error(token_request(client, form, machine, "basic"), 400, "unauthorized_client")
    assert_oauth_error(token_request(client, form, OUTTER_APP, "none"), 400, "invalid_grant")


@pytest.mark.parametrize(
    ("form", "who"),
    [
        pytest.param({"grant_type": "password", "password": PASSWORD}, "outter-app", id="password-no-username"),
        pytest.param(
            {"grant_type": "password", "username": "owner@acme.test"}, "outter-app", id="password-no-password"
        ),
        pytest.param({"grant_type": "refresh_token"}, "outter-app", id="refresh-no-token"),
        pytest.param({"grant_type": "password", "password": PASSWORD}, "app", id="app-password-no-username"),
    ],
)
def test_missing_grant_parameter_is_invalid_request(client, owner, web_app: OAuthClient, form, who: str):
    oauth_client, method = (OUTTER_APP, "none") if who == "outter-app" else (web_app, "basic")
    assert_oauth_error(token_request(client, form, oauth_client, method), 400, "invalid_request")


SCOPE_TOO_WIDE = [
    pytest.param("machine", {"grant_type": "client_credentials", "scope": "users:write"}, id="cc-beyond-client"),
    pytest.param("machine", {"grant_type": "client_credentials", "scope": "users:read admin:all"}, id="cc-partly"),
    pytest.param("machine", {"grant_type": "client_credentials", "scope": "Users:Read"}, id="cc-malformed"),
    pytest.param(
        "app",
        {"grant_type": "password", "username": "owner@acme.test", "password": PASSWORD, "scope": "audit:read"},
        id="password-beyond-client",
    ),
    pytest.param(
        "outter-app",
        {"grant_type": "password", "username": "owner@acme.test", "password": PASSWORD, "scope": "content:generate"},
        id="password-outter-app-unknown-scope",
    ),
]


@pytest.mark.parametrize(("who", "form"), SCOPE_TOO_WIDE)
def test_scope_beyond_the_clients_is_invalid_scope(client, owner, machine, web_app, who: str, form):
    oauth_client, method = {
        "machine": (machine, "basic"),
        "app": (web_app, "basic"),
        "outter-app": (OUTTER_APP, "none"),
    }[who]
    assert_oauth_error(token_request(client, form, oauth_client, method), 400, "invalid_scope")


@pytest.mark.parametrize(
    ("who", "grant_type"),
    [
        pytest.param("machine", "password", id="machine-password"),
        pytest.param("machine", "refresh_token", id="machine-refresh"),
        pytest.param("app", "client_credentials", id="app-client-credentials"),
    ],
)
def test_grant_the_client_may_not_use_is_unauthorized_client(client, owner, machine, web_app, who, grant_type):
    oauth_client = machine if who == "machine" else web_app
    form = {
        "grant_type": grant_type,
        "username": owner.email,
        "password": PASSWORD,
        "refresh_token": owner.refresh_token,
    }
    assert_oauth_error(token_request(client, form, oauth_client), 400, "unauthorized_client")


def test_password_grant_needs_a_first_party_client_even_if_the_row_allows_it(app, client, owner, machine):
    """Defence in depth: a non-first-party client whose stored grant types somehow include
    ``password`` (an old row, a hand edit) is still refused (RFC 9700 §2.4)."""
    with app.app_context():
        db.session.execute(
            update(OAuthClientRow)
            .where(OAuthClientRow.id == machine.client_id)
            .values(grant_types=["client_credentials", "password"], is_first_party=False)
        )
        db.session.commit()

    response = password_grant(client, machine, owner.email, PASSWORD, method="basic")

    assert_oauth_error(response, 400, "unauthorized_client")


# --- public clients ---------------------------------------------------------------------------


@pytest.fixture(params=["outter-app", "tenant-public"])
def public_client(request, mobile: OAuthClient) -> OAuthClient:
    return OUTTER_APP if request.param == "outter-app" else mobile


def test_public_client_uses_password_and_refresh_with_client_id_only(client, owner: Actor, public_client):
    first = assert_token_response(password_grant(client, public_client, owner.email, PASSWORD))
    second = assert_token_response(refresh_grant(client, public_client, first["refresh_token"]))

    for body in (first, second):
        claims = verify_access_token(client, body["access_token"])
        assert claims["client_id"] == public_client.client_id
        assert claims["sub"] == owner.user_id
        assert claims["tenant_id"] == owner.tenant_id
    assert unverified_claims(first["access_token"])["sid"] == unverified_claims(second["access_token"])["sid"]


@pytest.mark.parametrize("method", ["none", "post-with-secret"])
def test_public_client_cannot_use_client_credentials(client, owner, public_client, method: str):
    form = {"grant_type": "client_credentials", "client_id": public_client.client_id}
    if method == "post-with-secret":
        form["client_secret"] = "ocs_made-up"
    response = client.post("/oauth/token", data=form)

    assert_oauth_error(response, 401, "invalid_client")


def test_public_client_sending_a_secret_is_refused(client, owner: Actor):
    """outter-app has no secret: a Basic header with one is a failed authentication, not a login."""
    form = {"grant_type": "password", "username": owner.email, "password": PASSWORD}
    response = client.post("/oauth/token", data=form, headers=basic_auth("outter-app", "guess"))
    assert_oauth_error(response, 401, "invalid_client")


# --- password grant -------------------------------------------------------------------------


@pytest.fixture(params=["outter-app", "tenant-confidential", "tenant-public"])
def login_client(request, web_app: OAuthClient, mobile: OAuthClient) -> tuple[OAuthClient, str]:
    return {
        "outter-app": (OUTTER_APP, "none"),
        "tenant-confidential": (web_app, "basic"),
        "tenant-public": (mobile, "none"),
    }[request.param]


def test_password_grant_issues_a_user_token(client, owner: Actor, login_client):
    oauth_client, method = login_client
    body = assert_token_response(password_grant(client, oauth_client, owner.email, PASSWORD, method=method))

    claims = verify_access_token(client, body["access_token"])
    assert claims["sub"] == owner.user_id
    assert claims["client_id"] == oauth_client.client_id
    assert claims["tenant_id"] == owner.tenant_id
    assert claims["roles"] == ["owner"]
    assert isinstance(claims["sid"], str) and claims["sid"]
    assert claims["scope"] == body["scope"]
    assert claims["exp"] == claims["iat"] + 900
    me = client.get("/api/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.get_json()["type"] == "user" and me.get_json()["id"] == owner.user_id


@pytest.mark.parametrize(
    ("who", "requested", "granted"),
    [
        pytest.param("outter-app", None, MANAGEMENT_SCOPES, id="outter-app-default"),
        pytest.param("outter-app", "users:read audit:read", {"users:read", "audit:read"}, id="outter-app-narrowed"),
        pytest.param("app", None, {"users:read", "users:write"}, id="app-default-is-the-clients"),
        pytest.param("app", "users:read", {"users:read"}, id="app-narrowed"),
    ],
)
def test_password_grant_scope(client, owner: Actor, web_app, who, requested, granted):
    oauth_client, method = (OUTTER_APP, "none") if who == "outter-app" else (web_app, "basic")
    extra = {"scope": requested} if requested else {}
    body = assert_token_response(password_grant(client, oauth_client, owner.email, PASSWORD, method=method, **extra))

    assert set(body["scope"].split()) == granted
    assert set(verify_access_token(client, body["access_token"])["scope"].split()) == granted


@pytest.mark.parametrize("username", ["OWNER@ACME.TEST", "  owner@acme.test ", "Owner@Acme.Test"])
def test_password_grant_username_is_the_email_compared_case_insensitively(client, owner: Actor, username: str):
    body = assert_token_response(password_grant(client, OUTTER_APP, username, PASSWORD))
    assert verify_access_token(client, body["access_token"])["sub"] == owner.user_id


def test_password_grant_gives_a_member_no_management_scope(client, member: Actor, web_app):
    body = assert_token_response(password_grant(client, web_app, member.email, PASSWORD, method="basic"))
    assert body["scope"] == ""


def test_wrong_password_and_unknown_user_answer_alike(client, owner: Actor, login_client):
    oauth_client, method = login_client

    wrong = password_grant(client, oauth_client, owner.email, "not the password", method=method)
    unknown = password_grant(client, oauth_client, "nobody@acme.test", "not the password", method=method)

    assert assert_oauth_error(wrong, 400, "invalid_grant") == assert_oauth_error(unknown, 400, "invalid_grant")


def test_deactivated_user_gets_invalid_grant(app, client, owner: Actor, make: Factory, login_client):
    user_id = make.user("acme", "bob@acme.test", "member")
    assert client.delete(f"/api/auth/users/{user_id}", headers=owner.headers).status_code == 204
    oauth_client, method = login_client

    response = password_grant(client, oauth_client, "bob@acme.test", PASSWORD, method=method)

    assert_oauth_error(response, 400, "invalid_grant")


@pytest.fixture(params=["confidential", "public"])
def acme_login_client(request, web_app: OAuthClient, mobile: OAuthClient) -> tuple[OAuthClient, str]:
    return (web_app, "basic") if request.param == "confidential" else (mobile, "none")


def test_tenant_client_refuses_users_of_another_tenant(client, other_owner: Actor, acme_login_client):
    oauth_client, method = acme_login_client

    response = password_grant(client, oauth_client, other_owner.email, PASSWORD, method=method)

    assert_oauth_error(response, 400, "invalid_grant")


def test_tenant_client_refuses_another_tenant_named_explicitly(client, owner, make: Factory, acme_login_client):
    make.user("globex", owner.email, "owner")  # the acme owner also owns globex
    oauth_client, method = acme_login_client

    response = password_grant(client, oauth_client, owner.email, PASSWORD, method=method, tenant="globex")

    assert_oauth_error(response, 400, "invalid_grant")


def test_tenant_client_picks_its_own_tenant_for_a_user_of_several(client, owner, make: Factory, acme_login_client):
    make.user("globex", owner.email, "owner")
    oauth_client, method = acme_login_client

    body = assert_token_response(password_grant(client, oauth_client, owner.email, PASSWORD, method=method))

    assert verify_access_token(client, body["access_token"])["tenant_id"] == owner.tenant_id


def test_outter_app_serves_every_tenant(client, owner, make: Factory):
    globex = make.tenant("globex")
    make.user("globex", owner.email, "member")

    ambiguous = password_grant(client, OUTTER_APP, owner.email, PASSWORD)
    chosen = password_grant(client, OUTTER_APP, owner.email, PASSWORD, tenant="globex")

    assert_oauth_error(ambiguous, 400, "invalid_grant")
    assert verify_access_token(client, assert_token_response(chosen)["access_token"])["tenant_id"] == globex.id


# --- client_credentials ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "granted"),
    [
        pytest.param(None, "users:read content:generate", id="default-all-of-the-clients"),
        pytest.param("content:generate", "content:generate", id="narrowed"),
        pytest.param("content:generate users:read", "content:generate users:read", id="both"),
    ],
)
def test_client_credentials_token(client, owner: Actor, machine: OAuthClient, requested, granted):
    form = {"grant_type": "client_credentials", **({"scope": requested} if requested else {})}
    body = assert_token_response(token_request(client, form, machine), refresh=False)

    claims = verify_access_token(client, body["access_token"])
    assert claims["sub"] == machine.client_id
    assert claims["client_id"] == machine.client_id
    assert claims["tenant_id"] == owner.tenant_id
    assert claims["scope"] == body["scope"]
    assert set(claims["scope"].split()) == set(granted.split())
    assert "sid" not in claims
    assert claims["exp"] == claims["iat"] + 900


def test_client_credentials_token_identifies_the_client_at_me(client, owner, machine: OAuthClient):
    body = assert_token_response(token_request(client, {"grant_type": "client_credentials"}, machine), refresh=False)

    me = client.get("/api/auth/me", headers=bearer(body["access_token"]))

    assert me.status_code == 200
    assert me.get_json()["type"] == "client"
    assert me.get_json()["id"] == machine.client_id
    assert me.get_json()["tenant_id"] == owner.tenant_id


def test_client_credentials_tokens_belong_to_the_owning_tenant(client, owner, other_owner, globex_machine):
    body = assert_token_response(
        token_request(client, {"grant_type": "client_credentials"}, globex_machine), refresh=False
    )

    assert verify_access_token(client, body["access_token"])["tenant_id"] == other_owner.tenant_id


def test_each_token_has_its_own_jti_by_default(base_config, machine: OAuthClient):
    """Reuse is off unless asked for (tests/api/test_client_token_reuse.py): a signature each time."""
    no_reuse = create_app(base_config)
    tokens = [
        assert_token_response(
            token_request(no_reuse.test_client(), {"grant_type": "client_credentials"}, machine), refresh=False
        )
        for _ in range(3)
    ]
    assert len({unverified_claims(t["access_token"])["jti"] for t in tokens}) == 3
