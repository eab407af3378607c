"""Forged, tampered, misused and malformed Bearer credentials, at every place that reads one.

Every forged token is built from a real login token so that exactly one thing differs
from a token the service accepts; the control cases prove the forging machinery itself
produces accepted tokens. Tokens are built with PyJWT / cryptography only, never with the
service's own code. The clock is frozen at a whole second so the leeway edges are exact.

Places (``tests/attacks/places.py``): ``/api/auth/me``, the management API, logout and
the gateway check refuse with 401 (a ``Bearer ... error="invalid_token"`` challenge; the
check with an empty body and no identity headers), introspection answers
``{"active": false}`` (with and without a hint), revocation a quiet 200; and afterwards the
genuine token still works, so no forgery ended or revoked the real session.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from outter_auth import clock
from tests.assertions import MISSING_CREDENTIALS_CHALLENGE
from tests.attacks.places import (
    BEARER_PLACES,
    CHECK,
    HEADER_PLACES,
    IDENTITY_HEADERS,
    KEYS,
    LOGOUT,
    ME,
    Caller,
    bearer_refusal_problems,
    make_caller,
    present_bearer,
)
from tests.factories import Actor, Factory
from tests.oauth_helpers import (
    AUDIENCE,
    ISSUER,
    OUTTER_APP,
    REVOKE_URL,
    bearer,
    introspect,
    post_form,
)

LEEWAY = 30  # OUTTER_JWT_LEEWAY's default


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def jwk_thumbprint(public_jwk: dict[str, str]) -> str:
    canonical = json.dumps({k: public_jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode()).digest())


@functools.cache
def load_private_key(path: Path) -> rsa.RSAPrivateKey:
    """Our signing key, read once (loading checks the RSA key, which takes a while)."""
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


@pytest.fixture(scope="module")
def attacker_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def attacker_cert(attacker_key: rsa.RSAPrivateKey) -> str:
    """A self-signed certificate of the attacker's key, base64 DER as in an ``x5c`` header."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "auth.outter.test")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(attacker_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(attacker_key, hashes.SHA256())
    )
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")


DROP = object()


@dataclass
class Forge:
    """A valid login token taken apart, plus the keys to rebuild it with one change."""

    token: str
    header: dict[str, Any]
    claims: dict[str, Any]
    our_key: rsa.RSAPrivateKey
    attacker_key: rsa.RSAPrivateKey
    attacker_cert: str
    make: Factory
    now: int  # the frozen clock, whole seconds
    extra: dict[str, str] = field(default_factory=dict)  # other real credentials, for misuse cases

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
        return _changed(self.claims, changes)

    def with_header(self, **changes: Any) -> dict[str, Any]:
        return _changed(self.header, changes)

    def attacker_public_jwk(self, kid: str | None = None) -> dict[str, str]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.attacker_key.public_key()))
        jwk = {"kty": "RSA", "n": jwk["n"], "e": jwk["e"]}
        jwk["kid"] = kid or jwk_thumbprint(jwk)
        return jwk

    def our_public_jwk(self) -> dict[str, str]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.our_key.public_key()))
        return {"kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256", "n": jwk["n"], "e": jwk["e"]}

    def public_pem(self, fmt: serialization.PublicFormat = serialization.PublicFormat.SubjectPublicKeyInfo) -> bytes:
        return self.our_key.public_key().public_bytes(serialization.Encoding.PEM, fmt)

    def hmac_signed(self, secret: bytes, header: dict[str, Any], digest: str = "sha256") -> str:
        signing_input = f"{b64json(header)}.{b64json(self.claims)}"
        signature = hmac.new(secret, signing_input.encode(), getattr(hashlib, digest)).digest()
        return f"{signing_input}.{b64url(signature)}"

    def raw_signed(self, header_segment: str, payload_segment: str, key: rsa.RSAPrivateKey | None = None) -> str:
        """RS256 over arbitrary segments (for headers and payloads PyJWT would not produce)."""
        signing_input = f"{header_segment}.{payload_segment}".encode()
        signature = (key or self.our_key).sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return f"{header_segment}.{payload_segment}.{b64url(signature)}"

    def with_payload_of(self, claims: dict[str, Any]) -> str:
        """The login token's header and signature around another payload."""
        head, _, signature = self.token.split(".")
        return f"{head}.{b64json(claims)}.{signature}"


def _changed(original: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    result = dict(original)
    for name, value in changes.items():
        if value is DROP:
            result.pop(name, None)
        else:
            result[name] = value
    return result


@pytest.fixture
def forge(owner: Actor, make: Factory, keys_dir: Path, attacker_key: rsa.RSAPrivateKey, attacker_cert: str) -> Forge:
    header = jwt.get_unverified_header(owner.token)
    kid = header["kid"]
    manifest = json.loads((keys_dir / "keyring.json").read_text())
    assert kid in {key["kid"] for key in manifest["keys"]}, "the login token must be signed by a key of keys_dir"
    claims = jwt.decode(owner.token, options={"verify_signature": False})
    now = int(time.time())
    clock.freeze(datetime.fromtimestamp(now, UTC))
    our_key = load_private_key(keys_dir / f"{kid}.pem")
    return Forge(owner.token, header, claims, our_key, attacker_key, attacker_cert, make, now)


@pytest.fixture
def caller(client, owner: Actor) -> Caller:
    """acme's test client and a confidential client of acme that may introspect."""
    return make_caller(client, owner.headers)


def assert_refused_everywhere(caller: Caller, token: str, places: tuple[str, ...] = BEARER_PLACES) -> None:
    problems = {}
    for place in places:
        for response in present_bearer(caller, place, token):
            if problem := bearer_refusal_problems(place, response, token):
                problems[place] = problem
    assert not problems, problems


def assert_genuine_token_still_works(caller: Caller, token: str) -> None:
    """No forgery logged the real session out or revoked its token."""
    assert caller.client.get(ME, headers=bearer(token)).status_code == 200
    assert introspect(caller.client, caller.introspector, token).get_json()["active"] is True


# -- the control cases: the forging machinery makes tokens the service accepts -----------


ACCEPTED: list[Any] = [
    pytest.param(lambda f: f.token, id="original-login-token"),
    pytest.param(lambda f: f.sign(), id="resigned-unchanged"),
    pytest.param(lambda f: f.sign(f.with_claims(exp=f.now - LEEWAY + 1)), id="exp-29s-ago-inside-leeway-edge"),
    pytest.param(lambda f: f.sign(f.with_claims(nbf=f.now + LEEWAY)), id="nbf-in-30s-leeway-edge"),
    pytest.param(lambda f: f.sign(f.with_claims(iat=f.now + LEEWAY)), id="iat-in-30s-leeway-edge"),
    pytest.param(lambda f: f.sign(f.with_claims(nbf=DROP)), id="no-nbf"),
    pytest.param(lambda f: f.sign(header=f.with_header(typ="application/at+jwt")), id="typ-long-form-rfc9068"),
    pytest.param(lambda f: f.sign(header=f.with_header(typ="AT+JWT")), id="typ-upper-case"),
]


@pytest.mark.parametrize("build", ACCEPTED)
def test_control_tokens_are_accepted_everywhere(caller: Caller, forge: Forge, build: Callable[[Forge], str]):
    token = build(forge)
    client = caller.client

    me = client.get(ME, headers=bearer(token))
    assert me.status_code == 200, me.get_json()
    assert me.get_json()["id"] == forge.claims["sub"]
    assert client.get(KEYS, headers=bearer(token)).status_code == 200
    check = client.get(CHECK, headers=bearer(token))
    assert check.status_code == 200 and check.headers["X-Outter-User-Id"] == forge.claims["sub"]
    assert introspect(client, caller.introspector, token).get_json()["active"] is True


# -- forged tokens: refused at every place ------------------------------------------------


def _alg_none(f: Forge, alg: str = "none") -> str:
    return f"{b64json(f.with_header(alg=alg))}.{b64json(f.claims)}."


def _tampered(f: Forge, **changes: Any) -> str:
    return f.with_payload_of(f.with_claims(**changes))


def _other_tenant(f: Forge) -> str:
    return f.make.tenant("globex").id


def _other_user(f: Forge) -> str:
    return f.make.user("globex", "victim@globex.test", "owner")


def _attacker_with_embedded(f: Forge, param: str, kid: str | None = None) -> str:
    """Signed by the attacker's key, with a header naming where to find that key."""
    jwk = f.attacker_public_jwk()
    extra: dict[str, Any] = {
        "jwk": {"jwk": jwk},
        "jku": {"jku": "https://attacker.example/jwks.json"},
        "x5u": {"x5u": "https://attacker.example/cert.pem"},
        "x5c": {"x5c": [f.attacker_cert]},
    }[param]
    return f.sign(header=f.with_header(kid=kid or jwk["kid"], **extra), key=f.attacker_key)


FORGED: list[Any] = [
    # algorithm confusion
    pytest.param(_alg_none, id="alg-none-unsigned"),
    pytest.param(lambda f: _alg_none(f, "None"), id="alg-None-unsigned"),
    pytest.param(lambda f: _alg_none(f, "NONE"), id="alg-NONE-unsigned"),
    pytest.param(lambda f: _alg_none(f, "nOnE"), id="alg-nOnE-unsigned"),
    pytest.param(lambda f: _alg_none(f)[:-1] + "." + f.token.split(".")[2], id="alg-none-with-real-signature"),
    pytest.param(lambda f: _alg_none(f) + b64url(b"\x00"), id="alg-none-with-junk-signature"),
    pytest.param(lambda f: f"{b64json(f.with_header(alg=DROP))}.{b64json(f.claims)}.", id="no-alg-unsigned"),
    pytest.param(lambda f: f.hmac_signed(f.public_pem(), f.with_header(alg="HS256")), id="hs256-public-pem-as-secret"),
    pytest.param(
        lambda f: f.hmac_signed(f.public_pem(serialization.PublicFormat.PKCS1), f.with_header(alg="HS256")),
        id="hs256-pkcs1-public-pem-as-secret",
    ),
    pytest.param(
        lambda f: f.hmac_signed(f.public_pem(), f.with_header(alg="HS384"), "sha384"), id="hs384-public-pem-as-secret"
    ),
    pytest.param(
        lambda f: f.hmac_signed(f.public_pem(), f.with_header(alg="HS512"), "sha512"), id="hs512-public-pem-as-secret"
    ),
    pytest.param(
        lambda f: f.hmac_signed(json.dumps(f.our_public_jwk()).encode(), f.with_header(alg="HS256")),
        id="hs256-public-jwk-json-as-secret",
    ),
    pytest.param(
        lambda f: f.hmac_signed(base64.urlsafe_b64decode(f.our_public_jwk()["n"] + "=="), f.with_header(alg="HS256")),
        id="hs256-modulus-as-secret",
    ),
    pytest.param(lambda f: f.hmac_signed(b"", f.with_header(alg="HS256")), id="hs256-empty-secret"),
    pytest.param(lambda f: f.sign(algorithm="RS512"), id="rs512-signed-by-our-key"),
    pytest.param(lambda f: f.sign(algorithm="PS256"), id="ps256-signed-by-our-key"),
    pytest.param(lambda f: f.raw_signed(b64json(f.with_header(alg="rs256")), b64json(f.claims)), id="alg-lower-case"),
    # key selection
    pytest.param(lambda f: f.sign(key=f.attacker_key), id="foreign-rsa-key-with-our-kid"),
    pytest.param(lambda f: f.sign(header=f.with_header(kid="unknown-kid")), id="unknown-kid"),
    pytest.param(
        lambda f: f.sign(header=f.with_header(kid="unknown-kid"), key=f.attacker_key), id="foreign-unknown-kid"
    ),
    pytest.param(lambda f: f.sign(header=f.with_header(kid=DROP)), id="no-kid"),
    pytest.param(lambda f: f.sign(header=f.with_header(kid=DROP), key=f.attacker_key), id="foreign-key-no-kid"),
    pytest.param(lambda f: f.sign(header=f.with_header(kid="")), id="empty-kid"),
    pytest.param(lambda f: f.raw_signed(b64json(f.with_header(kid=123)), b64json(f.claims)), id="kid-not-a-string"),
    pytest.param(lambda f: f.raw_signed(b64json(f.with_header(kid=[f.kid])), b64json(f.claims)), id="kid-a-list"),
    pytest.param(lambda f: f.sign(header=f.with_header(kid="../" + f.kid)), id="kid-path-traversal"),
    pytest.param(lambda f: f.sign(header=f.with_header(kid="../../../../dev/null")), id="kid-dev-null"),
    pytest.param(lambda f: f.sign(header=f.with_header(kid="' OR '1'='1")), id="kid-sql"),
    pytest.param(lambda f: f.sign(header=f.with_header(kid=f.kid + "\x00")), id="kid-nul"),
    pytest.param(lambda f: f.sign(header=f.with_header(kid=f.kid.upper())), id="kid-other-case"),
    # header parameters that pick the verification key
    pytest.param(lambda f: _attacker_with_embedded(f, "jwk"), id="jwk-header-attacker-key-embedded"),
    pytest.param(lambda f: _attacker_with_embedded(f, "jwk", f.kid), id="jwk-header-attacker-key-our-kid"),
    pytest.param(lambda f: _attacker_with_embedded(f, "jku"), id="jku-header-attacker-key"),
    pytest.param(lambda f: _attacker_with_embedded(f, "jku", f.kid), id="jku-header-attacker-key-our-kid"),
    pytest.param(lambda f: _attacker_with_embedded(f, "x5u"), id="x5u-header-attacker-key"),
    pytest.param(lambda f: _attacker_with_embedded(f, "x5c"), id="x5c-header-attacker-cert-embedded"),
    pytest.param(lambda f: _attacker_with_embedded(f, "x5c", f.kid), id="x5c-header-attacker-cert-our-kid"),
    pytest.param(
        lambda f: f.sign(header=f.with_header(jwk=f.attacker_public_jwk(kid=f.kid))), id="jwk-header-our-signature"
    ),
    pytest.param(
        lambda f: f.sign(header=f.with_header(jku="https://attacker.example/jwks.json")), id="jku-header-our-signature"
    ),
    pytest.param(
        lambda f: f.sign(header=f.with_header(x5u="https://attacker.example/cert.pem")), id="x5u-header-our-signature"
    ),
    pytest.param(lambda f: f.sign(header=f.with_header(x5c=[f.attacker_cert])), id="x5c-header-our-signature"),
    pytest.param(lambda f: f.sign(header=f.with_header(crit=["x-outter-ext"], **{"x-outter-ext": 1})), id="crit"),
    pytest.param(lambda f: f.sign(header=f.with_header(crit=["exp"])), id="crit-naming-a-claim"),
    pytest.param(lambda f: f.sign(header=f.with_header(b64=False, crit=["b64"])), id="b64-false-unencoded-payload"),
    # lifetime (the clock is frozen: the edges are exact)
    pytest.param(lambda f: f.sign(f.with_claims(exp=f.now - LEEWAY)), id="exp-30s-ago-leeway-edge"),
    pytest.param(lambda f: f.sign(f.with_claims(exp=f.now - LEEWAY - 60)), id="expired-beyond-leeway"),
    pytest.param(lambda f: f.sign(f.with_claims(exp=1)), id="exp-1970"),
    pytest.param(lambda f: f.sign(f.with_claims(exp=-1)), id="exp-negative"),
    pytest.param(lambda f: f.sign(f.with_claims(exp=DROP)), id="missing-exp"),
    pytest.param(lambda f: f.sign(f.with_claims(exp=None)), id="exp-null"),
    pytest.param(lambda f: f.sign(f.with_claims(exp="9999999999")), id="exp-as-string"),
    pytest.param(lambda f: f.sign(f.with_claims(nbf=f.now + LEEWAY + 1)), id="nbf-31s-ahead-leeway-edge"),
    pytest.param(lambda f: f.sign(f.with_claims(nbf=f.now + 86400)), id="nbf-a-day-ahead"),
    pytest.param(lambda f: f.sign(f.with_claims(iat=f.now + LEEWAY + 1)), id="iat-31s-ahead-leeway-edge"),
    pytest.param(lambda f: f.sign(f.with_claims(iat=DROP)), id="missing-iat"),
    # issuer and audience
    pytest.param(lambda f: f.sign(f.with_claims(iss="https://evil.example")), id="wrong-iss"),
    pytest.param(lambda f: f.sign(f.with_claims(iss=ISSUER + "/")), id="iss-trailing-slash"),
    pytest.param(lambda f: f.sign(f.with_claims(iss=ISSUER.replace("https", "http"))), id="iss-http"),
    pytest.param(lambda f: f.sign(f.with_claims(iss=DROP)), id="missing-iss"),
    pytest.param(lambda f: f.sign(f.with_claims(aud="other-api")), id="wrong-aud"),
    pytest.param(lambda f: f.sign(f.with_claims(aud=AUDIENCE.upper())), id="aud-other-case"),
    pytest.param(lambda f: f.sign(f.with_claims(aud=DROP)), id="missing-aud"),
    pytest.param(lambda f: f.sign(f.with_claims(aud=["other-api"])), id="aud-list-without-ours"),
    pytest.param(lambda f: f.sign(f.with_claims(aud=[])), id="aud-empty-list"),
    pytest.param(
        lambda f: f.sign(
            f.with_claims(iss="https://auth.other.example", aud="other-api"),
            header={"typ": "at+jwt", "kid": f.attacker_public_jwk()["kid"]},
            key=f.attacker_key,
        ),
        id="valid-token-of-another-issuer-and-audience",
    ),
    # claims the service relies on
    pytest.param(lambda f: f.sign(f.with_claims(sub=DROP)), id="missing-sub"),
    pytest.param(lambda f: f.sign(f.with_claims(tenant_id=DROP)), id="missing-tenant-id"),
    pytest.param(lambda f: f.sign(f.with_claims(jti=DROP)), id="missing-jti-id-less-token"),
    pytest.param(lambda f: f.sign(f.with_claims(client_id=DROP)), id="missing-client-id"),
    # token type (RFC 9068: the service issues typ "at+jwt")
    pytest.param(lambda f: f.sign(header=f.with_header(typ="JWT")), id="typ-JWT"),
    pytest.param(lambda f: f.sign(header=f.with_header(typ="application/jwt")), id="typ-application-jwt"),
    pytest.param(lambda f: f.sign(header=f.with_header(typ=DROP)), id="missing-typ"),
    pytest.param(lambda f: f.raw_signed(b64json(f.with_header(typ=None)), b64json(f.claims)), id="typ-null"),
    pytest.param(lambda f: f.sign(header=f.with_header(typ="id_token+jwt")), id="typ-id-token"),
    pytest.param(lambda f: f.sign(header=f.with_header(typ="logout+jwt")), id="typ-logout-token"),
    # tampered payload, original signature kept
    pytest.param(lambda f: _tampered(f, scope="users:read"), id="tampered-scope"),
    pytest.param(lambda f: _tampered(f, scope=f.claims["scope"] + " admin:all"), id="tampered-scope-widened"),
    pytest.param(lambda f: _tampered(f, tenant_id=_other_tenant(f)), id="tampered-tenant-id"),
    pytest.param(lambda f: _tampered(f, sub=_other_user(f)), id="tampered-sub"),
    pytest.param(lambda f: _tampered(f, sid=DROP), id="tampered-sid-removed-to-pass-as-client"),
    pytest.param(lambda f: _tampered(f, exp=f.claims["exp"] + 3600), id="tampered-exp"),
    pytest.param(lambda f: _tampered(f, roles=["admin"]), id="tampered-roles"),
    pytest.param(
        lambda f: f"{b64json(f.with_header(kid='x'))}.{f.token.split('.', 1)[1]}", id="tampered-header-kept-signature"
    ),
    # structure
    pytest.param(lambda f: f.token[:-10], id="truncated-signature"),
    pytest.param(lambda f: f.token.rsplit(".", 1)[0], id="truncated-to-two-segments"),
    pytest.param(lambda f: f.token.rsplit(".", 1)[0] + ".", id="signature-stripped"),
    pytest.param(lambda f: f.token[: len(f.token) // 2], id="truncated-in-half"),
    pytest.param(lambda f: f.token + "." + f.token.split(".")[2], id="four-segments"),
    pytest.param(lambda f: f.token + "=", id="padding-appended"),
    pytest.param(lambda f: f.sign(f.with_claims(pad="x" * 9000)), id="oversized-over-8kb"),
    pytest.param(lambda f: f.sign(f.with_claims(pad="x" * 100 * 1024)), id="oversized-100kb"),
    pytest.param(lambda f: f.raw_signed(b64json(f.header), b64url(b"not json")), id="signed-non-json-payload"),
    pytest.param(lambda f: f.raw_signed(b64json(f.header), b64json([f.claims])), id="signed-array-payload"),
    pytest.param(lambda f: f.raw_signed(b64json(f.header), b64json("claims")), id="signed-string-payload"),
    pytest.param(lambda f: f.raw_signed(b64json(f.header), b64url(b'{"sub":"\xff\xfe"}')), id="payload-not-utf8"),
    pytest.param(
        lambda f: f.raw_signed(b64url(b'{"alg":"RS256","kid":"\xff"}'), b64json(f.claims)), id="header-not-utf8"
    ),
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
def test_forged_token_is_refused_everywhere(caller: Caller, forge: Forge, build: Callable[[Forge], str]):
    token = build(forge)

    assert_refused_everywhere(caller, token)
    assert_genuine_token_still_works(caller, forge.token)


def test_oversized_cases_really_exceed_the_limit_and_are_otherwise_valid(forge: Forge):
    """Keeps the ``oversized-*`` cases honest: large, and signed like a token we accept."""
    for size in (9000, 100 * 1024):
        token = forge.sign(forge.with_claims(pad="x" * size))
        assert len(token) > size
        claims = jwt.decode(
            token,
            forge.our_key.public_key(),
            algorithms=["RS256"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
        )
        assert claims["pad"] == "x" * size


# -- real credentials used where they do not belong, and tokens whose session ended --------

ACTIVE_AS = "active-as"  # introspection answers active, for what the credential really is


@dataclass(frozen=True)
class Misuse:
    build: Callable[[Forge, Caller], str]
    introspect: tuple[str, str] | None = None  # (ACTIVE_AS, token_type) when introspection rightly knows it


def _refresh_token(f: Forge, c: Caller) -> str:
    return str(f.make.login("owner@acme.test")["refresh_token"])


def _api_key(f: Forge, c: Caller) -> str:
    body = c.client.post(KEYS, json={"name": "k", "scopes": ["content:generate"]}, headers=bearer(f.token)).get_json()
    return str(body["key"])


def _expired_login(f: Forge, c: Caller) -> str:
    token = str(f.make.login("owner@acme.test")["access_token"])
    clock.advance(900 + LEEWAY)
    return token


def _logged_out(f: Forge, c: Caller) -> str:
    token = str(f.make.login("owner@acme.test")["access_token"])
    assert c.client.post(LOGOUT, headers=bearer(token)).status_code == 204
    return token


def _revoked(f: Forge, c: Caller) -> str:
    token = str(f.make.login("owner@acme.test")["access_token"])
    assert post_form(c.client, REVOKE_URL, {"token": token}, OUTTER_APP, "none").status_code == 200
    return token


def _refresh_reused(f: Forge, c: Caller) -> str:
    login = f.make.login("owner@acme.test")
    for _ in range(2):  # the second use of the same refresh token ends the whole session
        c.client.post("/api/auth/token/refresh", json={"refresh_token": login["refresh_token"]})
    return str(login["access_token"])


def _bob(f: Forge) -> tuple[str, str]:
    user_id = f.make.user("acme", "bob@acme.test", "admin")
    return user_id, str(f.make.login("bob@acme.test")["access_token"])


def _removed_member(f: Forge, c: Caller) -> str:
    user_id, token = _bob(f)
    assert c.client.delete(f"/api/auth/users/{user_id}", headers=bearer(f.token)).status_code == 204
    return token


def _deactivated_account(f: Forge, c: Caller) -> str:
    user_id, token = _bob(f)
    f.make.deactivate_account(user_id)
    return token


MISUSED: list[Any] = [
    pytest.param(Misuse(_refresh_token, introspect=(ACTIVE_AS, "refresh_token")), id="refresh-token-as-access-token"),
    pytest.param(Misuse(_api_key, introspect=(ACTIVE_AS, "api_key")), id="api-key-as-bearer-token"),
    pytest.param(Misuse(lambda f, c: str(c.introspector.secret)), id="client-secret-as-bearer-token"),
    pytest.param(Misuse(_expired_login), id="expired-login-token"),
    pytest.param(Misuse(_logged_out), id="token-of-a-logged-out-session"),
    pytest.param(Misuse(_revoked), id="token-revoked-rfc7009"),
    pytest.param(Misuse(_refresh_reused), id="token-of-a-session-ended-by-refresh-reuse"),
    pytest.param(Misuse(_removed_member), id="token-of-a-removed-member"),
    pytest.param(Misuse(_deactivated_account), id="token-of-a-deactivated-account"),
]


@pytest.mark.parametrize("case", MISUSED)
def test_misused_or_ended_credentials_are_refused(caller: Caller, forge: Forge, case: Misuse):
    """SPEC §5 and §7: this service refuses tokens of ended sessions and deactivated accounts,
    introspection calls them inactive, and the gateway check refuses them too (within 5 s on
    other instances; at once in the process that made the change, as here). Offline
    gateways (Kong, Apache) accept them until they expire: that is theirs to bound.
    """
    token = case.build(forge, caller)
    problems = {}
    for place in BEARER_PLACES:
        for response in present_bearer(caller, place, token):
            if place == "introspect" and case.introspect:
                body = response.get_json()
                if not (body.get("active") is True and body.get("token_type") == case.introspect[1]):
                    problems[place] = f"introspection answered {body}, not an active {case.introspect[1]}"
            elif problem := bearer_refusal_problems(place, response, token):
                problems[place] = problem
    assert not problems, problems


# -- malformed Authorization headers, at every place that reads the header ----------------


def assert_header_refused_everywhere(client, request_kwargs: dict[str, Any]) -> None:
    """At every place that reads the header: a 401 with invalid_request or invalid_token, nothing injected."""
    problems = {}
    for place, send in HEADER_PLACES.items():
        response = send(client, request_kwargs)
        if problem := bearer_refusal_problems(place, response, error=""):
            problems[place] = problem
        if "X-Injected" in response.headers:
            problems[place] = "a header was injected into the response"
    assert not problems, problems


MALFORMED_HEADERS: list[Any] = [
    pytest.param(lambda t: "", id="empty-header"),
    pytest.param(lambda t: "Bearer", id="bearer-alone"),
    pytest.param(lambda t: "Bearer ", id="empty-bearer"),
    pytest.param(lambda t: "Bearer    ", id="bearer-and-spaces"),
    pytest.param(lambda t: "Basic abc", id="basic-scheme"),
    pytest.param(lambda t: "Basic " + base64.b64encode(b"owner@acme.test:pw").decode(), id="basic-credentials"),
    pytest.param(lambda t: f"Token {t}", id="token-scheme"),
    pytest.param(lambda t: f"JWT {t}", id="jwt-scheme"),
    pytest.param(lambda t: f"DPoP {t}", id="dpop-scheme"),
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
    pytest.param(lambda t: f"Bearer {t[:20]}\u200b{t[20:]}", id="zero-width-space-inside-token"),
    pytest.param(lambda t: f"Bearer {t[:20]} {t[20:]}", id="space-inside-token"),
    pytest.param(lambda t: "Bearer ==========", id="padding-only"),
    pytest.param(lambda t: "Bearer " + "a" * 64 * 1024, id="64kb-token"),
]


@pytest.mark.parametrize("build", MALFORMED_HEADERS)
def test_malformed_authorization_header_is_refused_everywhere(client, owner: Actor, build: Callable[[str], str]):
    assert_header_refused_everywhere(client, {"headers": {"Authorization": build(owner.token)}})
    assert client.get(ME, headers=owner.headers).status_code == 200, "logout with a malformed header ended nothing"


def test_two_authorization_headers_are_refused_everywhere(client, owner: Actor):
    headers = [("Authorization", f"Bearer {owner.token}"), ("Authorization", f"Bearer {owner.token}")]
    assert_header_refused_everywhere(client, {"headers": headers})


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
def test_authorization_header_with_control_characters_is_refused_everywhere(
    client, owner: Actor, build: Callable[[str], str]
):
    # Werkzeug's test client refuses CR/LF in header values, so the raw WSGI value is set directly.
    assert_header_refused_everywhere(client, {"environ_overrides": {"HTTP_AUTHORIZATION": build(owner.token)}})


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
    response = client.get(ME, headers={"Authorization": build(owner.token)})
    assert response.status_code == 200
    assert response.get_json()["id"] == owner.user_id
    check = client.get(CHECK, headers={"Authorization": build(owner.token)})
    assert check.status_code == 200 and check.headers["X-Outter-User-Id"] == owner.user_id


def test_missing_authorization_header_gets_a_challenge_without_error_code(client, owner: Actor):
    response = client.get(ME)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == MISSING_CREDENTIALS_CHALLENGE
    assert response.get_json()["code"] == 401
    check = client.get(CHECK)
    assert check.status_code == 401 and check.get_data() == b""
    assert not any(h in check.headers for h in IDENTITY_HEADERS)


# -- RFC 6750 §2.2/§2.3: a token in a form body or the query string is not a credential -----


@pytest.mark.parametrize(
    ("place", "request_kwargs"),
    [
        pytest.param("me", lambda t: {"query_string": {"access_token": t}}, id="me-query-access_token"),
        pytest.param("management", lambda t: {"query_string": {"access_token": t}}, id="management-query"),
        pytest.param("check", lambda t: {"query_string": {"access_token": t}}, id="check-query-access_token"),
        pytest.param("logout", lambda t: {"query_string": {"access_token": t}}, id="logout-query-access_token"),
        pytest.param("logout", lambda t: {"data": {"access_token": t}}, id="logout-form-access_token"),
        pytest.param("me", lambda t: {"headers": {"Cookie": f"access_token={t}"}}, id="me-cookie"),
    ],
)
def test_a_token_outside_the_authorization_header_is_ignored(client, owner: Actor, place: str, request_kwargs):
    response = HEADER_PLACES[place](client, request_kwargs(owner.token))

    assert response.status_code in (401, 415), response.get_data(as_text=True)
    if place == "check":
        assert response.get_data() == b"" and not any(h in response.headers for h in IDENTITY_HEADERS)
    assert client.get(ME, headers=owner.headers).status_code == 200, "the session was not logged out"
