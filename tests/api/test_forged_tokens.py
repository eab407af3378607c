"""Forged, tampered and malformed Bearer credentials sent to GET /api/auth/me.

Every forged token is built from a real login token so that exactly one thing
differs from a token the service accepts; the ``resigned-unchanged`` control case
proves the forging machinery itself produces accepted tokens. Tokens are built with
PyJWT / cryptography only, never with the service's own code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.assertions import MISSING_CREDENTIALS_CHALLENGE
from tests.factories import Actor, Factory

URL = "/api/auth/me"
LEEWAY = 30
OUR_ISSUER = "https://auth.outter.test"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def jwk_thumbprint(public_jwk: dict[str, str]) -> str:
    canonical = json.dumps({k: public_jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode()).digest())


@pytest.fixture(scope="module")
def attacker_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Forge:
    """A valid login token taken apart, plus the keys to rebuild it with one change."""

    token: str
    header: dict[str, Any]
    claims: dict[str, Any]
    our_key: rsa.RSAPrivateKey
    attacker_key: rsa.RSAPrivateKey
    make: Factory

    @property
    def kid(self) -> str:
        return str(self.header["kid"])

    def sign(
        self,
        claims: dict[str, Any] | None = None,
        *,
        header: dict[str, Any] | None = None,
        key: Any = None,
        algorithm: str = "RS256",
    ) -> str:
        """PyJWT-sign ``claims`` (default: the login claims) with ``header`` (default: the login header)."""
        headers = dict(self.header if header is None else header)
        headers.pop("alg", None)
        headers.setdefault("typ", None)  # PyJWT adds typ "JWT" unless told otherwise; None drops it
        return jwt.encode(
            dict(self.claims if claims is None else claims),
            self.our_key if key is None else key,
            algorithm=algorithm,
            headers=headers,
        )

    def with_claims(self, **changes: Any) -> dict[str, Any]:
        claims = dict(self.claims)
        for name, value in changes.items():
            if value is DROP:
                claims.pop(name, None)
            else:
                claims[name] = value
        return claims

    def with_header(self, **changes: Any) -> dict[str, Any]:
        header = dict(self.header)
        for name, value in changes.items():
            if value is DROP:
                header.pop(name, None)
            else:
                header[name] = value
        return header

    def attacker_public_jwk(self, kid: str | None = None) -> dict[str, str]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.attacker_key.public_key()))
        jwk = {"kty": "RSA", "n": jwk["n"], "e": jwk["e"]}
        jwk["kid"] = kid or jwk_thumbprint(jwk)
        return jwk

    def public_pem(self, fmt: serialization.PublicFormat = serialization.PublicFormat.SubjectPublicKeyInfo) -> bytes:
        return self.our_key.public_key().public_bytes(serialization.Encoding.PEM, fmt)

    def hmac_signed(self, secret: bytes, header: dict[str, Any]) -> str:
        signing_input = f"{b64json(header)}.{b64json(self.claims)}"
        signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{b64url(signature)}"

    def raw_signed(self, header_segment: str, payload_segment: str) -> str:
        """RS256 over arbitrary segments with our key (for payloads PyJWT would not produce)."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        signing_input = f"{header_segment}.{payload_segment}".encode()
        signature = self.our_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return f"{header_segment}.{payload_segment}.{b64url(signature)}"

    def with_payload_of(self, claims: dict[str, Any]) -> str:
        """The login token's header and signature around another payload."""
        head, _, signature = self.token.split(".")
        return f"{head}.{b64json(claims)}.{signature}"


DROP = object()


@pytest.fixture
def forge(owner: Actor, make: Factory, keys_dir: Path, attacker_key: rsa.RSAPrivateKey) -> Forge:
    header = jwt.get_unverified_header(owner.token)
    kid = header["kid"]
    manifest = json.loads((keys_dir / "keyring.json").read_text())
    assert kid in {key["kid"] for key in manifest["keys"]}, "the login token must be signed by a key of keys_dir"
    our_key = serialization.load_pem_private_key((keys_dir / f"{kid}.pem").read_bytes(), password=None)
    assert isinstance(our_key, rsa.RSAPrivateKey)
    claims = jwt.decode(owner.token, options={"verify_signature": False})
    return Forge(owner.token, header, claims, our_key, attacker_key, make)


def assert_refused(response, *, token_presented: bool = True) -> None:
    assert response.status_code == 401, (response.status_code, response.get_data(as_text=True)[:300])
    challenge = response.headers.get("WWW-Authenticate", "")
    assert challenge.startswith("Bearer"), challenge
    assert 'realm="outter"' in challenge
    if token_presented:
        assert 'error="invalid_token"' in challenge, challenge
    body = response.get_json()
    assert body["code"] == 401 and body["status"] == "Unauthorized"


def now() -> int:
    return int(time.time())


# -- the control case: the forging machinery makes tokens the service accepts ------


ACCEPTED: list[Any] = [
    pytest.param(lambda f: f.token, id="original-login-token"),
    pytest.param(lambda f: f.sign(), id="resigned-unchanged"),
    pytest.param(lambda f: f.sign(f.with_claims(exp=now() - 10)), id="exp-10s-ago-within-leeway"),
    pytest.param(lambda f: f.sign(f.with_claims(nbf=now() + 10)), id="nbf-in-10s-within-leeway"),
]


@pytest.mark.parametrize("build", ACCEPTED)
def test_control_tokens_are_accepted(client, forge: Forge, build: Callable[[Forge], str]):
    response = client.get(URL, headers={"Authorization": f"Bearer {build(forge)}"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["id"] == forge.claims["sub"]


# -- forged tokens: each answers 401 invalid_token ---------------------------------


def _alg_none(f: Forge, alg: str = "none") -> str:
    return f"{b64json(f.with_header(alg=alg))}.{b64json(f.claims)}."


def _tampered(f: Forge, **changes: Any) -> str:
    return f.with_payload_of(f.with_claims(**changes))


def _other_tenant(f: Forge) -> str:
    return f.make.tenant("globex").id


def _attacker_with_embedded(f: Forge, param: str) -> str:
    jwk = f.attacker_public_jwk()
    extra: dict[str, Any] = {
        "jwk": {"jwk": jwk},
        "jku": {"jku": "https://attacker.example/jwks.json"},
        "x5u": {"x5u": "https://attacker.example/cert.pem"},
    }[param]
    return f.sign(header=f.with_header(kid=jwk["kid"], **extra), key=f.attacker_key)


FORGED: list[Any] = [
    # algorithm confusion
    pytest.param(_alg_none, id="alg-none-unsigned"),
    pytest.param(lambda f: _alg_none(f, "None"), id="alg-None-unsigned"),
    pytest.param(lambda f: _alg_none(f, "NONE"), id="alg-NONE-unsigned"),
    pytest.param(lambda f: _alg_none(f)[:-1] + "." + f.token.split(".")[2], id="alg-none-with-real-signature"),
    pytest.param(lambda f: f.hmac_signed(f.public_pem(), f.with_header(alg="HS256")), id="hs256-public-pem-as-secret"),
    pytest.param(
        lambda f: f.hmac_signed(f.public_pem(serialization.PublicFormat.PKCS1), f.with_header(alg="HS256")),
        id="hs256-pkcs1-public-pem-as-secret",
    ),
    pytest.param(lambda f: f.sign(algorithm="RS512"), id="rs512-signed-by-our-key"),
    pytest.param(lambda f: f.sign(algorithm="PS256"), id="ps256-signed-by-our-key"),
    # key selection
    pytest.param(lambda f: f.sign(key=f.attacker_key), id="other-rsa-key-with-our-kid"),
    pytest.param(lambda f: f.sign(header=f.with_header(kid="unknown-kid")), id="unknown-kid"),
    pytest.param(lambda f: f.sign(header=f.with_header(kid=DROP)), id="no-kid"),
    pytest.param(lambda f: f.sign(header=f.with_header(kid="")), id="empty-kid"),
    pytest.param(lambda f: f.raw_signed(b64json(f.with_header(kid=123)), b64json(f.claims)), id="kid-not-a-string"),
    pytest.param(lambda f: f.sign(header=f.with_header(kid="../" + f.kid)), id="kid-path-traversal"),
    # lifetime
    pytest.param(lambda f: f.sign(f.with_claims(exp=now() - LEEWAY - 60)), id="expired-beyond-leeway"),
    pytest.param(lambda f: f.sign(f.with_claims(exp=DROP)), id="missing-exp"),
    pytest.param(lambda f: f.sign(f.with_claims(nbf=now() + LEEWAY + 120)), id="nbf-future-beyond-leeway"),
    pytest.param(lambda f: f.sign(f.with_claims(exp="9999999999")), id="exp-as-string"),
    # issuer and audience
    pytest.param(lambda f: f.sign(f.with_claims(iss="https://evil.example")), id="wrong-iss"),
    pytest.param(lambda f: f.sign(f.with_claims(iss=DROP)), id="missing-iss"),
    pytest.param(lambda f: f.sign(f.with_claims(aud="other-api")), id="wrong-aud"),
    pytest.param(lambda f: f.sign(f.with_claims(aud=DROP)), id="missing-aud"),
    pytest.param(lambda f: f.sign(f.with_claims(aud=["other-api"])), id="aud-list-without-ours"),
    pytest.param(
        lambda f: f.sign(
            f.with_claims(iss="https://auth.other.example", aud="other-api"),
            header={"typ": "at+jwt", "kid": f.attacker_public_jwk()["kid"]},
            key=f.attacker_key,
        ),
        id="valid-token-of-another-issuer-and-audience",
    ),
    # token type
    pytest.param(lambda f: f.sign(header=f.with_header(typ="JWT")), id="typ-JWT"),
    pytest.param(lambda f: f.sign(header=f.with_header(typ=DROP)), id="missing-typ"),
    pytest.param(lambda f: f.sign(header=f.with_header(typ="id_token+jwt")), id="typ-other"),
    # header parameters that pick the verification key
    pytest.param(lambda f: _attacker_with_embedded(f, "jwk"), id="jwk-header-attacker-key-embedded"),
    pytest.param(lambda f: _attacker_with_embedded(f, "jku"), id="jku-header-attacker-key"),
    pytest.param(lambda f: _attacker_with_embedded(f, "x5u"), id="x5u-header-attacker-key"),
    pytest.param(
        lambda f: f.sign(header=f.with_header(jwk=f.attacker_public_jwk(kid=f.kid))), id="jwk-header-our-signature"
    ),
    pytest.param(
        lambda f: f.sign(header=f.with_header(jku="https://attacker.example/jwks.json")), id="jku-header-our-signature"
    ),
    pytest.param(
        lambda f: f.sign(header=f.with_header(x5u="https://attacker.example/cert.pem")), id="x5u-header-our-signature"
    ),
    pytest.param(lambda f: f.sign(header=f.with_header(crit=["x-outter-ext"], **{"x-outter-ext": 1})), id="crit"),
    pytest.param(lambda f: f.sign(header=f.with_header(crit=["exp"])), id="crit-naming-a-claim"),
    # tampered payload, original signature kept
    pytest.param(lambda f: _tampered(f, scope="users:read"), id="tampered-scope"),
    pytest.param(lambda f: _tampered(f, scope=f.claims["scope"] + " admin:all"), id="tampered-scope-widened"),
    pytest.param(lambda f: _tampered(f, tenant_id=_other_tenant(f)), id="tampered-tenant-id"),
    pytest.param(lambda f: _tampered(f, exp=f.claims["exp"] + 3600), id="tampered-exp"),
    pytest.param(lambda f: _tampered(f, roles=["admin"]), id="tampered-roles"),
    # structure
    pytest.param(lambda f: f.token[:-10], id="truncated-signature"),
    pytest.param(lambda f: f.token.rsplit(".", 1)[0], id="truncated-to-two-segments"),
    pytest.param(lambda f: f.token.rsplit(".", 1)[0] + ".", id="signature-removed"),
    pytest.param(lambda f: f.token[: len(f.token) // 2], id="truncated-in-half"),
    pytest.param(lambda f: f.token + "." + f.token.split(".")[2], id="four-segments"),
    pytest.param(lambda f: f.sign(f.with_claims(pad="x" * 9000)), id="oversized-over-8kb"),
    pytest.param(lambda f: f.raw_signed(b64json(f.header), b64url(b"not json")), id="signed-non-json-payload"),
    pytest.param(lambda f: f.raw_signed(b64json(f.header), b64json([f.claims])), id="signed-array-payload"),
    pytest.param(lambda f: f.raw_signed(b64url(b"not json"), b64json(f.claims)), id="non-json-header"),
    pytest.param(lambda f: f.raw_signed(b64json(["RS256"]), b64json(f.claims)), id="array-header"),
    pytest.param(lambda f: f.raw_signed(b64json(f.header), "A"), id="payload-impossible-base64-length"),
    # garbage (valid RFC 6750 b64token syntax, so it reaches token verification)
    pytest.param(lambda f: "abc", id="garbage-word"),
    pytest.param(lambda f: "a.b.c", id="garbage-three-dots"),
    pytest.param(lambda f: "...", id="garbage-only-dots"),
    pytest.param(lambda f: "eyJhbGciOiJSUzI1NiJ9.e30.", id="garbage-empty-claims-no-signature"),
    pytest.param(lambda f: "a.b.c.d.e", id="garbage-jwe-shaped"),
    pytest.param(lambda f: "x" * 9000, id="garbage-oversized"),
    pytest.param(lambda f: b64url(bytes(range(256))), id="garbage-binary-base64url"),
    pytest.param(lambda f: f.token.split(".")[1], id="payload-segment-alone"),
]


@pytest.mark.parametrize("build", FORGED)
def test_forged_token_is_refused(client, forge: Forge, build: Callable[[Forge], str]):
    token = build(forge)
    response = client.get(URL, headers={"Authorization": f"Bearer {token}"})
    assert_refused(response)
    assert token not in response.headers["WWW-Authenticate"]


def test_oversized_case_really_exceeds_8_kb(forge: Forge):
    """Keeps the ``oversized-over-8kb`` case honest: it is large and otherwise valid."""
    token = forge.sign(forge.with_claims(pad="x" * 9000))
    assert len(token) > 8 * 1024
    claims = jwt.decode(
        token,
        forge.our_key.public_key(),
        algorithms=["RS256"],
        audience="outter-api",
        issuer=OUR_ISSUER,
    )
    assert claims["pad"] == "x" * 9000


# -- malformed Authorization headers ----------------------------------------------


MALFORMED_HEADERS: list[Any] = [
    pytest.param(lambda t: "", id="empty-header"),
    pytest.param(lambda t: "Bearer", id="bearer-alone"),
    pytest.param(lambda t: "Bearer ", id="empty-bearer"),
    pytest.param(lambda t: "Bearer    ", id="bearer-and-spaces"),
    pytest.param(lambda t: "Basic abc", id="basic-scheme"),
    pytest.param(lambda t: "Basic " + base64.b64encode(b"owner@acme.test:pw").decode(), id="basic-credentials"),
    pytest.param(lambda t: f"Token {t}", id="token-scheme"),
    pytest.param(lambda t: f"JWT {t}", id="jwt-scheme"),
    pytest.param(lambda t: t, id="token-without-scheme"),
    pytest.param(lambda t: f"Bearer{t}", id="no-space-after-scheme"),
    pytest.param(lambda t: f"Bearer: {t}", id="colon-after-scheme"),
    pytest.param(lambda t: f"Bearer\t{t}", id="tab-after-scheme"),
    pytest.param(lambda t: f"Bearer {t} {t}", id="two-tokens"),
    pytest.param(lambda t: f"Bearer {t}, Bearer {t}", id="two-bearer-credentials"),
    pytest.param(lambda t: f"Bearer {t} extra", id="trailing-word"),
    pytest.param(lambda t: f'Bearer token="{t}"', id="auth-param-syntax"),
    pytest.param(lambda t: "Bearer tök€n".encode().decode("latin-1"), id="non-ascii-token"),
    pytest.param(lambda t: f"Bearer {t[:20]}é{t[20:]}", id="non-ascii-inside-valid-token"),
    pytest.param(lambda t: f"Bearer {t[:20]} {t[20:]}", id="space-inside-token"),
]


@pytest.mark.parametrize("build", MALFORMED_HEADERS)
def test_malformed_authorization_header_is_refused(client, owner: Actor, build: Callable[[str], str]):
    response = client.get(URL, headers={"Authorization": build(owner.token)})
    assert_refused(response, token_presented=False)
    challenge = response.headers["WWW-Authenticate"]
    assert 'error="invalid_request"' in challenge or 'error="invalid_token"' in challenge, challenge


def test_two_authorization_headers_are_refused(client, owner: Actor):
    headers = [("Authorization", f"Bearer {owner.token}"), ("Authorization", f"Bearer {owner.token}")]
    response = client.get(URL, headers=headers)
    assert_refused(response, token_presented=False)


CONTROL_CHARACTERS: list[Any] = [
    pytest.param(lambda t: f"Bearer {t[:20]}\n{t[20:]}", id="newline-inside-token"),
    pytest.param(lambda t: f"Bearer {t}\r\nX-Injected: 1", id="crlf-header-injection"),
    pytest.param(lambda t: f"Bearer\n{t}", id="newline-as-separator"),
    pytest.param(lambda t: f"Bearer\r\n {t}", id="obsolete-line-folding"),
    pytest.param(lambda t: f"Bearer {t[:20]}\x00{t[20:]}", id="nul-inside-token"),
    pytest.param(lambda t: f"Bearer {t}\x00", id="trailing-nul"),
    pytest.param(lambda t: f"Bearer \x01{t}", id="soh-before-token"),
    pytest.param(lambda t: f"Bearer {t[:20]}\x7f{t[20:]}", id="del-inside-token"),
    pytest.param(lambda t: f"Bearer {t[:20]}\x1b{t[20:]}", id="escape-inside-token"),
]


@pytest.mark.parametrize("build", CONTROL_CHARACTERS)
def test_authorization_header_with_control_characters_is_refused(client, owner: Actor, build: Callable[[str], str]):
    # Werkzeug's test client refuses CR/LF in header values, so the raw WSGI value is set directly.
    response = client.get(URL, environ_overrides={"HTTP_AUTHORIZATION": build(owner.token)})
    assert_refused(response, token_presented=False)
    assert "X-Injected" not in response.headers


RFC_7235_SPELLINGS: list[Any] = [
    pytest.param(lambda t: f"bearer {t}", id="lowercase-scheme"),
    pytest.param(lambda t: f"BEARER {t}", id="uppercase-scheme"),
    pytest.param(lambda t: f"Bearer  {t}", id="two-spaces"),
    pytest.param(lambda t: f"bearer  {t}", id="lowercase-and-two-spaces"),
]


@pytest.mark.parametrize("build", RFC_7235_SPELLINGS)
def test_scheme_is_case_insensitive_and_separated_by_one_or_more_spaces(
    client, owner: Actor, build: Callable[[str], str]
):
    """RFC 7235 §2.1: the auth-scheme is case-insensitive and followed by 1*SP.

    These are not malformed, so refusing them would break conforming clients.
    """
    response = client.get(URL, headers={"Authorization": build(owner.token)})
    assert response.status_code == 200
    assert response.get_json()["id"] == owner.user_id


def test_missing_authorization_header_gets_a_challenge_without_error_code(client, owner: Actor):
    response = client.get(URL)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == MISSING_CREDENTIALS_CHALLENGE
    assert response.get_json()["code"] == 401
