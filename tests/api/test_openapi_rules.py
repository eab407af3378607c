"""The OpenAPI document says what the service enforces, and the service accepts what the
document allows (issue 13.12). tests/fuzz checks it at large with every schemathesis check;
these are the rules it found, one by one."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.api_key_helpers import create_key
from tests.assertions import assert_error

KEYS = "/api/auth/api-keys"
CLIENTS = "/api/auth/clients"
USERS = "/api/auth/users"
PROJECTS = "/api/auth/projects"


@pytest.fixture
def spec(client) -> dict[str, Any]:
    return dict(client.get("/openapi.json").get_json())


def component(spec: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(spec["components"]["schemas"][name])


def ecma(pattern: str) -> re.Pattern[str]:
    """A document's pattern as a validator reads it: ``$`` is the end of the string."""
    return re.compile(pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern)


# --- Allow: the methods the path has, not those of /{key_id} --------------------------------


@pytest.mark.parametrize("path", [f"{KEYS}/verify", f"{KEYS}/generate"])
def test_options_lists_exactly_the_methods_of_the_path(client, path):
    response = client.options(path)

    assert response.status_code == 200
    assert set(response.headers["Allow"].split(", ")) == {"OPTIONS", "POST"}


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
@pytest.mark.parametrize("name", ["verify", "generate"])
def test_a_route_name_is_not_a_key_id(client, owner, method, name):
    response = getattr(client, method)(f"{KEYS}/{name}", headers=owner.headers, json={})

    assert_error(response, 405)
    assert set(response.headers["Allow"].split(", ")) == {"OPTIONS", "POST"}


def test_the_documented_key_id_excludes_the_route_names(spec):
    path = spec["paths"][f"{KEYS}/{{key_id}}"]
    parameter = next(p for p in path.get("parameters", path["get"].get("parameters")) if p["name"] == "key_id")
    pattern = ecma(parameter["schema"]["pattern"])

    assert pattern.match("key_0123456789abcdef") and pattern.match("verifying")
    assert not pattern.match("verify") and not pattern.match("generate")


# --- text fields say which characters they refuse ---------------------------------------------


def _string_properties(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for name, schema in spec["components"]["schemas"].items():
        for field, prop in schema.get("properties", {}).items():
            items = prop.get("items", {})
            for node in (prop, items):
                if node.get("type") == "string" and not node.get("readOnly"):
                    found.append((name, field, node))
    return found


def test_every_request_text_field_has_a_pattern_an_enum_or_a_date_time_format(spec):
    request_schemas = {n for n in spec["components"]["schemas"] if n.endswith(("Create", "Update"))} | {"Login"}
    bare = [
        f"{name}.{field}"
        for name, field, node in _string_properties(spec)
        if name in request_schemas and not (node.get("pattern") or node.get("enum") or node.get("format"))
    ]
    assert not bare, f"text fields whose refusals the document does not state: {bare}"


@pytest.mark.parametrize(("name", "url"), [("ApiKeyCreate", KEYS), ("ProjectCreate", PROJECTS)])
def test_the_no_control_characters_pattern_is_the_one_the_service_applies(spec, client, owner, name, url):
    pattern = ecma(component(spec, name)["properties"]["name"]["pattern"])

    for text in ("plain", "é ü 🔑", "nul\x00", "tab\tinside", "bell\x07", "next line\x85", "del\x7f"):
        body = {"name": text, "scopes": []} if name == "ApiKeyCreate" else {"name": text}
        status = client.post(url, json=body, headers=owner.headers).status_code
        assert status == (201 if pattern.match(text) else 422), (text, status)


def test_scopes_are_documented_by_their_grammar(spec):
    pattern = ecma(component(spec, "ApiKeyCreate")["properties"]["scopes"]["items"]["pattern"])

    assert pattern.match("content:generate") and pattern.match("a" * 64)
    assert not pattern.match("Content") and not pattern.match("a" * 65) and not pattern.match("")


# --- emails and redirect URIs: a pattern, enforced as written ---------------------------------


@pytest.mark.parametrize(
    ("email", "accepted"),
    [
        ("ann@acme.test", True),
        ("0@0.a", True),  # valid for the document's pattern (HTML's rule): was refused
        ("o'brien+tag@mail.example.co.uk", True),
        ("not-an-email", False),
        ("a b@acme.test", False),
        ("ann@-acme.test", False),
        ("ann@acme..test", False),
    ],
)
def test_member_emails_follow_the_documented_pattern(spec, client, owner, email, accepted):
    pattern = ecma(component(spec, "MemberCreate")["properties"]["email"]["pattern"])
    response = client.post(USERS, json={"email": email, "password": "a long passphrase"}, headers=owner.headers)

    assert (pattern.match(email) is not None) == accepted
    assert response.status_code == (201 if accepted else 422), response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("uri", "accepted"),
    [
        ("https://app.example/callback", True),
        ("http://127.0.0.1:8765/cb?state=x", True),
        ("https://[::1]/cb", True),
        ("http://localhost", True),
        ("javascript:alert(1)", False),
        ("https://app.example/cb#fragment", False),
        ("https://user@app.example/cb", False),
        ("https://app.example/a b", False),
        ("0000", False),
    ],
)
def test_redirect_uris_follow_the_documented_pattern(spec, client, owner, uri, accepted):
    pattern = ecma(component(spec, "ClientCreate")["properties"]["redirect_uris"]["items"]["pattern"])
    body = {"name": "web", "grant_types": ["client_credentials"], "redirect_uris": [uri]}

    response = client.post(CLIENTS, json=body, headers=owner.headers)

    assert (pattern.match(uri) is not None) == accepted
    assert response.status_code == (201 if accepted else 422), response.get_data(as_text=True)


# --- rules across fields ---------------------------------------------------------------------


def test_one_expiry_is_said_in_the_document(spec, client, owner):
    rule = component(spec, "ApiKeyCreate")["not"]
    assert rule["required"] == ["expires_at", "expires_in"]

    both = {"name": "k", "scopes": [], "expires_at": "2100-01-01T00:00:00Z", "expires_in": 3600}
    assert_error(client.post(KEYS, json=both, headers=owner.headers), 422)
    one = {"name": "k", "scopes": [], "expires_at": None, "expires_in": 3600}  # null is no expiry at all
    assert client.post(KEYS, json=one, headers=owner.headers).status_code == 201


def test_a_public_client_without_a_secret_grant_is_said_in_the_document(spec, client, owner):
    rule = component(spec, "ClientCreate")["allOf"][0]["not"]
    assert rule["properties"]["public"] == {"enum": [True]}
    assert rule["properties"]["grant_types"] == {"not": {"items": {"not": {"enum": ["client_credentials"]}}}}

    body = {"name": "spa", "grant_types": ["refresh_token", "client_credentials"], "public": True}
    assert_error(client.post(CLIENTS, json=body, headers=owner.headers), 422)


def test_the_code_grant_without_a_redirect_uri_is_said_in_the_document(spec, client, owner):
    """SPEC §11: the authorization code grant sends the browser back to a registered URI."""
    rule = component(spec, "ClientCreate")["allOf"][1]["not"]
    assert rule["required"] == ["grant_types"]
    assert rule["properties"]["grant_types"] == {"not": {"items": {"not": {"enum": ["authorization_code"]}}}}
    assert rule["properties"]["redirect_uris"] == {"maxItems": 0}

    for body in (
        {"name": "web", "grant_types": ["authorization_code"]},
        {"name": "web", "grant_types": ["authorization_code"], "redirect_uris": []},
    ):
        assert_error(client.post(CLIENTS, json=body, headers=owner.headers), 422)
    body = {"name": "web", "grant_types": ["authorization_code"], "redirect_uris": ["https://web.example/cb"]}
    assert client.post(CLIENTS, json=body, headers=owner.headers).status_code == 201


def test_a_grant_this_client_cannot_have_is_a_conflict_with_its_state(client, owner):
    spa = client.post(
        CLIENTS, json={"name": "spa", "grant_types": ["refresh_token"], "public": True}, headers=owner.headers
    )
    url = f"{CLIENTS}/{spa.get_json()['client_id']}"

    assert_error(client.patch(url, json={"grant_types": ["client_credentials"]}, headers=owner.headers), 409)


def test_member_passwords_are_documented_as_passwords_of_8_to_72(spec):
    password = component(spec, "MemberCreate")["properties"]["password"]

    assert (password["format"], password["minLength"], password["maxLength"]) == ("password", 8, 72)
    assert "72 bytes" in password["description"]


# --- OAuth forms -----------------------------------------------------------------------------


def test_the_token_endpoint_is_the_documented_oauth2_token_url(spec):
    flows = spec["components"]["securitySchemes"]["oauth2"]["flows"]

    assert {flow["tokenUrl"] for flow in flows.values()} == {"/oauth/token"}
    assert "api_keys:write" in flows["clientCredentials"]["scopes"]


def test_an_oauth_form_parameter_is_sent_once(spec, client, owner):
    form = spec["paths"]["/oauth/token"]["post"]["requestBody"]["content"]["application/x-www-form-urlencoded"]
    assert form["schema"]["additionalProperties"] == {"type": "string"}  # one value each, unknown ones ignored

    repeated = client.post("/oauth/token", data={"grant_type": "client_credentials", "x": ["1", "2"]})
    assert repeated.status_code == 400 and repeated.get_json()["error"] == "invalid_request"
    ignored = client.post("/oauth/token", data={"grant_type": "client_credentials", "x": "1"})
    assert ignored.get_json()["error"] != "invalid_request"


# --- date-times --------------------------------------------------------------------------------


def test_every_date_time_the_document_allows_is_accepted(client, owner):
    key = create_key(client, owner.headers)
    for moment in ("9999-12-31T23:59:59-14:00", "2100-02-28T12:00:00+05:30"):
        response = client.patch(f"{KEYS}/{key['id']}", json={"expires_at": moment}, headers=owner.headers)
        assert response.status_code == 200, response.get_data(as_text=True)
