"""GET /.well-known/jwks.json and the discovery documents (SPEC §4, RFC 7517/7638/8414)."""

from __future__ import annotations

import base64
import hashlib
import json
from urllib.parse import urlsplit

import pytest

ISSUER = "https://auth.outter.test"
JWKS = "/.well-known/jwks.json"
DISCOVERY = ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"]
MANAGEMENT_SCOPES = [
    "api_keys:read",
    "api_keys:write",
    "users:read",
    "users:write",
    "projects:read",
    "projects:write",
    "audit:read",
    "clients:read",  # issue 17, F1
    "clients:write",
]
PRIVATE_RSA_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def rfc7638_thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638 §3: the required members in lexicographic order, no whitespace, SHA-256, base64url."""
    canonical = json.dumps({"e": jwk["e"], "kty": jwk["kty"], "n": jwk["n"]}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def b64url_uint(value: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")


# -- JWKS -------------------------------------------------------------------------


def test_jwks_answers_json_with_cache_headers_and_an_etag(client):
    response = client.get(JWKS)

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "public, max-age=300"
    etag = response.headers.get("ETag", "")
    assert len(etag) > 2 and etag.startswith('"') and etag.endswith('"'), etag
    assert response.get_json()["keys"], "at least the active key is published"


def test_jwks_etag_is_stable_between_requests(client):
    assert client.get(JWKS).headers["ETag"] == client.get(JWKS).headers["ETag"]


def test_if_none_match_with_the_etag_answers_304_without_body(client):
    etag = client.get(JWKS).headers["ETag"]

    response = client.get(JWKS, headers={"If-None-Match": etag})

    assert response.status_code == 304
    assert response.get_data() == b""
    # RFC 9110 §15.4.5: a 304 repeats the validators and caching headers of the 200.
    assert response.headers["ETag"] == etag
    assert response.headers["Cache-Control"] == "public, max-age=300"


@pytest.mark.parametrize(
    "if_none_match",
    [
        pytest.param(lambda etag: f"W/{etag}", id="weak-form-of-the-etag"),
        pytest.param(lambda etag: f'"other", {etag}', id="etag-in-a-list"),
        pytest.param(lambda etag: "*", id="star"),
    ],
)
def test_if_none_match_uses_weak_comparison(client, if_none_match):
    etag = client.get(JWKS).headers["ETag"]
    response = client.get(JWKS, headers={"If-None-Match": if_none_match(etag)})
    assert response.status_code == 304
    assert response.get_data() == b""


def test_if_none_match_with_another_etag_answers_200_with_the_keys(client):
    response = client.get(JWKS, headers={"If-None-Match": '"not-the-current-etag"'})
    assert response.status_code == 200
    assert response.get_json()["keys"]


def test_jwks_keys_carry_exactly_the_public_members(client):
    keys = client.get(JWKS).get_json()["keys"]

    for key in keys:
        assert set(key) == {"kty", "kid", "use", "alg", "n", "e"}, key.keys()
        assert not PRIVATE_RSA_MEMBERS & set(key)
        assert key["kty"] == "RSA"
        assert key["use"] == "sig"
        assert key["alg"] == "RS256"
        assert b64url_uint(key["e"]) == 65537
        assert b64url_uint(key["n"]).bit_length() >= 2048
        assert "=" not in key["n"] + key["e"], "base64url without padding (RFC 7518 §6.3.1)"


def test_jwks_body_holds_no_private_key_material_anywhere(client):
    body = client.get(JWKS).get_data(as_text=True)
    for member in ("d", "p", "q", "dp", "dq", "qi"):
        assert f'"{member}"' not in body
    assert "PRIVATE KEY" not in body


def test_kid_is_the_rfc7638_thumbprint_of_the_key(client):
    keys = client.get(JWKS).get_json()["keys"]

    for key in keys:
        assert key["kid"] == rfc7638_thumbprint(key)


def test_kids_are_unique(client):
    kids = [key["kid"] for key in client.get(JWKS).get_json()["keys"]]
    assert len(kids) == len(set(kids))


def test_jwks_needs_no_credential(client):
    assert client.get(JWKS, headers={"Authorization": "Bearer garbage"}).status_code == 200


# -- discovery --------------------------------------------------------------------


@pytest.mark.parametrize("path", DISCOVERY, ids=["openid-configuration", "oauth-authorization-server"])
def test_discovery_document_names_the_issuer_and_its_keys(client, path: str):
    response = client.get(path)

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    doc = response.get_json()
    assert doc["issuer"] == ISSUER
    assert doc["jwks_uri"] == ISSUER + "/.well-known/jwks.json"
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert set(MANAGEMENT_SCOPES) <= set(doc["scopes_supported"])


def test_both_discovery_documents_agree(client):
    first, second = (client.get(path).get_json() for path in DISCOVERY)
    assert first == second


def _advertised_urls(doc: dict) -> dict[str, str]:
    return {
        name: value
        for name, value in doc.items()
        if (name.endswith("_endpoint") or name.endswith("_uri")) and isinstance(value, str)
    }


@pytest.mark.parametrize("path", DISCOVERY, ids=["openid-configuration", "oauth-authorization-server"])
def test_discovery_advertises_only_endpoints_that_exist(client, path: str):
    doc = client.get(path).get_json()
    urls = _advertised_urls(doc)
    assert "jwks_uri" in urls  # the one that must always be there

    for name, url in urls.items():
        assert url.startswith(ISSUER + "/"), f"{name} is not under the issuer: {url}"
        route = urlsplit(url).path
        status = client.get(route).status_code
        assert status != 404, f"{name} advertises {url}, which does not exist"
        assert status < 500, f"{name}: {url} answers {status}"
