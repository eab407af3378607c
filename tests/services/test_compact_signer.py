"""``tokens.CompactSigner`` (issue 14): a prepared header and ``cryptography``'s signature make
the very bytes joserfc makes (RS256 with PKCS#1 v1.5 is deterministic), and PyJWT accepts them."""

from __future__ import annotations

import json

import jwt as pyjwt
import pytest
from joserfc import jws
from joserfc import jwt as jose_jwt
from joserfc.jwk import RSAKey

from outter_auth.services.tokens import ALGORITHM, CompactSigner, NoSigningKey

CLAIMS = {"iss": "https://auth.example", "sub": "usr_1", "scope": "a b", "exp": 2_000_000_000, "name": "Zoë ✓"}


@pytest.fixture(scope="module")
def key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)


def test_the_token_is_byte_for_byte_joserfcs(key: RSAKey) -> None:
    ours = CompactSigner(key, "at+jwt").sign(CLAIMS)
    header = {"typ": "at+jwt", "alg": ALGORITHM, "kid": "k1"}
    payload = json.dumps(CLAIMS, separators=(",", ":")).encode()
    assert ours == jws.serialize_compact(header, payload, key)


def test_joserfc_and_pyjwt_verify_it_with_the_public_key(key: RSAKey) -> None:
    token = CompactSigner(key, "at+jwt").sign(CLAIMS)
    decoded = jose_jwt.decode(token, key, algorithms=[ALGORITHM])
    assert decoded.header == {"typ": "at+jwt", "alg": "RS256", "kid": "k1"}
    assert decoded.claims == CLAIMS
    public = pyjwt.PyJWK(key.as_dict(private=False)).key
    assert pyjwt.decode(token, public, algorithms=["RS256"], options={"verify_aud": False}) == CLAIMS


def test_a_changed_byte_breaks_the_signature(key: RSAKey) -> None:
    header, payload, signature = CompactSigner(key, "at+jwt").sign(CLAIMS).split(".")
    forged = f"{header}.{payload[:-2]}{'A' if payload[-2] != 'A' else 'B'}{payload[-1]}.{signature}"
    with pytest.raises(Exception):  # noqa: B017 (joserfc's error class differs by version)
        jose_jwt.decode(forged, key, algorithms=[ALGORITHM])


def test_a_public_key_cannot_sign(key: RSAKey) -> None:
    public = RSAKey.import_key(key.as_dict(private=False))
    with pytest.raises(NoSigningKey):
        CompactSigner(public, "at+jwt")
