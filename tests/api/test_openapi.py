"""GET /openapi.json and the Swagger UI at /docs (SPEC §4 Operations)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
EXPECTED_PATHS = [
    "/api/auth/login",
    "/api/auth/me",
    "/api/auth/tenant",
    "/api/auth/projects",
    "/api/auth/projects/{project_id}",
    "/api/auth/users",
    "/api/auth/users/{user_id}",
    "/.well-known/jwks.json",
    "/.well-known/openid-configuration",
    "/.well-known/oauth-authorization-server",
    "/healthz",
    "/readyz",
    "/api/auth/token/refresh",
    "/api/auth/logout",
    "/api/auth/clients",
    "/api/auth/clients/{client_id}",
    "/api/auth/clients/{client_id}/rotate-secret",
    "/oauth/token",
    "/oauth/revoke",
    "/oauth/introspect",
    "/api/auth/api-keys",
    "/api/auth/api-keys/generate",
    "/api/auth/api-keys/{key_id}",
    "/api/auth/api-keys/{key_id}/rotate",
    "/api/auth/api-keys/verify",
    "/api/auth/gateway/check",
    "/api/auth/audit-events",
    "/oauth/authorize",
    "/oauth/userinfo",
    "/oauth/logout",
    "/api/auth/consents",
    "/api/auth/consents/{client_id}",
]
# Operations anyone may call; /oauth/* authenticate the client; every other needs a Bearer token.
OAUTH_OPERATIONS = {("post", "/oauth/token"), ("post", "/oauth/revoke"), ("post", "/oauth/introspect")}
PUBLIC_OPERATIONS = {
    ("post", "/api/auth/login"),
    ("post", "/api/auth/token/refresh"),
    ("post", "/api/auth/api-keys/verify"),  # the gateway contract: the credential is the subject
    ("get", "/api/auth/gateway/check"),
    ("post", "/api/auth/api-keys/leaks"),  # secret scanners: trusted by their signature over the body
    ("get", "/.well-known/jwks.json"),
    ("get", "/.well-known/openid-configuration"),
    ("get", "/.well-known/oauth-authorization-server"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/oauth/authorize"),  # the browser's way in (SPEC §11): a page or a redirect
    ("get", "/oauth/logout"),
    ("post", "/oauth/logout"),
}


@pytest.fixture
def spec(client) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield method, path, operation


def test_document_is_openapi_3(spec):
    assert re.fullmatch(r"3\.\d+\.\d+", spec["openapi"]), spec["openapi"]
    assert spec["info"]["title"]
    assert spec["info"]["version"]


@pytest.mark.parametrize("path", EXPECTED_PATHS)
def test_every_endpoint_is_documented(spec, path: str):
    assert path in spec["paths"], f"{path} missing from {sorted(spec['paths'])}"
    assert set(spec["paths"][path]) & HTTP_METHODS, f"{path} has no operation"


def test_bearer_security_scheme_is_declared(spec):
    scheme = spec["components"]["securitySchemes"]["bearerAuth"]
    assert scheme["type"] == "http"
    assert scheme["scheme"].lower() == "bearer"
    assert scheme.get("bearerFormat") == "JWT"


def test_protected_operations_declare_bearer_auth(spec):
    protected = [(m, p, op) for m, p, op in operations(spec) if (m, p) not in PUBLIC_OPERATIONS | OAUTH_OPERATIONS]
    assert len(protected) >= 10, "the management endpoints are documented"

    for method, path, operation in protected:
        names = [name for requirement in operation.get("security", []) for name in requirement]
        assert "bearerAuth" in names, f"{method.upper()} {path} declares no bearerAuth security"
        assert "401" in operation["responses"], f"{method.upper()} {path} does not document its 401"


def test_api_key_security_scheme_is_declared(spec):
    assert spec["components"]["securitySchemes"]["apiKeyAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
    }


def test_operations_that_accept_an_api_key_list_it_next_to_bearer(spec):
    """``require_scopes`` takes an API key as well as a Bearer token (auth.py): alternatives,
    so two requirement objects, either of which satisfies the operation."""
    checked = 0
    for method, path, operation in operations(spec):
        if "x-required-scopes" not in operation:
            continue
        checked += 1
        assert operation["security"] == [{"bearerAuth": []}, {"apiKeyAuth": []}], f"{method.upper()} {path}"
    assert checked >= 15


def test_an_api_key_is_accepted_where_the_document_says_so(spec, client, owner):
    """Every documented GET without a path parameter that lists apiKeyAuth answers a key holding
    its scopes."""
    from tests.api_key_helpers import create_key, key_headers

    gets = {
        path: operation
        for method, path, operation in operations(spec)
        if method == "get" and "{" not in path and {"apiKeyAuth": []} in operation.get("security", [])
    }
    assert {"/api/auth/me", "/api/auth/projects", "/api/auth/api-keys"} <= set(gets)
    scopes = sorted({s for operation in gets.values() for s in operation["x-required-scopes"]} | {"content:generate"})
    headers = key_headers(create_key(client, owner.headers, scopes=scopes)["key"])
    for path in gets:
        response = client.get(path, headers=headers)
        assert response.status_code == 200, (path, response.get_data(as_text=True))


def test_oauth_operations_declare_client_authentication(spec):
    for method, path, operation in operations(spec):
        if (method, path) in OAUTH_OPERATIONS:
            names = [name for requirement in operation["security"] for name in requirement]
            assert names == ["clientBasic"], f"{method.upper()} {path}"
            assert "application/x-www-form-urlencoded" in operation["requestBody"]["content"]


def test_public_operations_declare_no_security(spec):
    documented = {(m, p) for m, p, _ in operations(spec)}
    assert PUBLIC_OPERATIONS <= documented

    for method, path, operation in operations(spec):
        if (method, path) in PUBLIC_OPERATIONS:
            assert operation.get("security", []) in ([], [{}]), f"{method.upper()} {path} is public"
    assert "security" not in spec or spec["security"] in ([], [{}]), "no global security requirement"


def test_path_parameters_are_declared(spec):
    for method, path, operation in operations(spec):
        names = {p["name"] for p in spec["paths"][path].get("parameters", []) + operation.get("parameters", [])}
        for placeholder in re.findall(r"{([^}]+)}", path):
            assert placeholder in names, f"{method.upper()} {path}: parameter {placeholder} undeclared"


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_every_internal_ref_resolves(spec):
    dangling = set()
    for ref in set(_refs(spec)):
        assert ref.startswith("#/"), f"external reference {ref}"
        node: Any = spec
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                dangling.add(ref)
                break
            node = node[part]
    assert not dangling, f"references to nothing: {sorted(dangling)}"


def test_security_requirements_follow_the_declared_openapi_version(spec):
    schemes = spec["components"]["securitySchemes"]
    # OpenAPI 3.1 allows role names for any scheme; 3.0 only for oauth2 and openIdConnect.
    strict = spec["openapi"].startswith("3.0.")
    for method, path, operation in operations(spec):
        for requirement in operation.get("security", []):
            for name, values in requirement.items():
                assert name in schemes, f"{method.upper()} {path}: undeclared scheme {name}"
                if strict and schemes[name]["type"] not in ("oauth2", "openIdConnect"):
                    assert values == [], f"{method.upper()} {path}: {name} must list no scopes in OpenAPI 3.0"


# -- Swagger UI ----------------------------------------------------------------------


@pytest.fixture
def docs_page(client) -> str:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


def _asset_urls(page: str) -> list[str]:
    return re.findall(r"""<(?:script|link)\b[^>]*\b(?:src|href)\s*=\s*["']([^"']+)["']""", page)


def test_docs_page_loads_swagger_ui_from_local_assets(docs_page: str):
    assets = _asset_urls(docs_page)

    assert "SwaggerUIBundle" in docs_page
    assert "/openapi.json" in docs_page
    assert any(url.endswith(".js") for url in assets), assets
    assert any(url.endswith(".css") for url in assets), assets
    for url in assets:
        assert url.startswith("/docs/assets/"), f"asset not served locally: {url}"


def test_docs_page_has_no_remote_urls(docs_page: str):
    assert not re.search(r"https?://", docs_page), re.findall(r"https?://\S+", docs_page)
    assert "//cdn" not in docs_page and "unpkg" not in docs_page and "jsdelivr" not in docs_page


def test_docs_assets_are_served(client, docs_page: str):
    expected_type = {".js": "javascript", ".css": "text/css"}
    assets = _asset_urls(docs_page)
    assert assets

    for url in assets:
        response = client.get(url)
        assert response.status_code == 200, url
        suffix = url[url.rfind(".") :]
        assert expected_type[suffix] in response.mimetype, (url, response.mimetype)
        assert len(response.get_data()) > 1000, f"{url} is suspiciously small"


def test_swagger_ui_sends_the_document_to_no_validator(docs_page: str):
    """By default Swagger UI shows a badge fetched from validator.swagger.io with our document's URL."""
    assert '"validatorUrl": null' in docs_page


def test_docs_with_a_trailing_slash_leads_to_the_page(client):
    response = client.get("/docs/")
    assert response.status_code == 308
    assert response.headers["Location"] == "/docs"
    assert client.get("/docs/", follow_redirects=True).status_code == 200


def test_missing_docs_asset_is_404(client):
    assert client.get("/docs/assets/no-such-file.js").status_code == 404


# -- Responses as documented (found by tests/fuzz) -----------------------------------


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = spec
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


def test_pagination_header_is_documented_as_the_json_it_is(spec, client, owner):
    """X-Pagination is a JSON object: ``content`` in OpenAPI 3, not a ``schema`` (which would
    mean the ``simple`` style, ``total,1,total_pages,1``)."""
    responses = spec["paths"]["/api/auth/projects"]["get"]["responses"]
    header = _resolve(spec, responses["200"]["headers"]["X-Pagination"])
    assert "schema" not in header, header
    schema = _resolve(spec, header["content"]["application/json"]["schema"])
    assert {"total", "total_pages", "page"} <= set(schema["properties"])

    sent = client.get("/api/auth/projects", headers=owner.headers).headers["X-Pagination"]
    assert set(json.loads(sent)) <= set(schema["properties"])


def test_me_answers_as_documented_for_users_keys_and_clients(spec, client, owner, machine):
    """Each kind of caller leaves some fields null (a user has no environment, a key no
    email): every null must be documented as nullable, every field as a property."""
    from tests.api_key_helpers import create_key, key_headers

    ok = _resolve(spec, spec["paths"]["/api/auth/me"]["get"]["responses"]["200"])
    properties = _resolve(spec, ok["content"]["application/json"]["schema"])["properties"]
    key = create_key(client, owner.headers, scopes=["content:generate"])["key"]
    token = client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(machine.client_id, machine.secret)
    ).get_json()["access_token"]

    for headers in (owner.headers, key_headers(key), {"Authorization": f"Bearer {token}"}):
        body = client.get("/api/auth/me", headers=headers).get_json()
        assert set(body) <= set(properties), body
        nulls = {name for name, value in body.items() if value is None}
        assert all(properties[name].get("nullable") for name in nulls), (body["type"], nulls)


def test_bodies_the_api_refuses_are_documented(spec, client, owner):
    """Shared code answers 415 to a non-JSON body and 400 to JSON that does not parse,
    for every operation that takes a body: each of them lists both."""
    for method, path, operation in operations(spec):
        if not path.startswith("/api/") or method not in ("post", "put", "patch"):
            continue
        assert "415" in operation["responses"], f"{method.upper()} {path}"
        if "application/json" in operation.get("requestBody", {}).get("content", {}):
            assert "400" in operation["responses"], f"{method.upper()} {path}"

    not_json = client.post("/api/auth/projects", data="name=x", content_type="text/plain", headers=owner.headers)
    assert not_json.status_code == 415, not_json.get_data(as_text=True)
    broken = client.post("/api/auth/projects", data="{", content_type="application/json", headers=owner.headers)
    assert broken.status_code == 400, broken.get_data(as_text=True)
