"""Access tokens (RFC 9068 JWTs) and ID tokens: the only module that decides how a JOSE
object is signed or verified.

RS256 only, always with the signing key's ``kid``; verification checks the header
before any cryptography and then ``iss``, ``aud``, ``exp``, ``nbf`` with a small leeway.

ID tokens (OpenID Connect Core §2) are signed by Authlib's ``OpenIDCode`` extension
(``oauth/openid.py``), which computes ``at_hash`` and the claims of the code: it is given
the key, header and claims decided here (:func:`id_token_signing`, :func:`id_token_claims`)
through its configuration hooks, rather than re-implementing what it does.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from joserfc import jws, jwt
from joserfc.errors import BadSignatureError, ClaimError, ExpiredTokenError, InvalidClaimError, JoseError
from joserfc.jwk import RSAKey
from joserfc.jwt import JWTClaimsRegistry

from outter_auth import clock
from outter_auth.services.signing_keys import KeyRing

ALGORITHM = "RS256"
TOKEN_TYPE = "at+jwt"
ID_TOKEN_TYPE = "JWT"  # SPEC §11; OpenID Connect sets no typ, "JWT" is what verifiers expect
# RFC 9068 §4: resource servers accept "at+jwt" and its long form.
ACCEPTED_TYPES = {"at+jwt", "application/at+jwt"}
# Header parameters that would let a token choose its own verification key.
FORBIDDEN_HEADER_PARAMS = {"jku", "x5u", "jwk", "x5c", "crit"}
MAX_TOKEN_LENGTH = 8192


class InvalidToken(Exception):
    """The token is not one of ours or no longer valid; the message is safe to show."""


class NoSigningKey(Exception):
    """No active signing key: the service cannot issue tokens."""


@dataclass(frozen=True)
class TokenSettings:
    issuer: str
    audience: str
    ttl: int
    leeway: int


def issue_access_token(
    ring: KeyRing,
    settings: TokenSettings,
    *,
    subject: str,
    client_id: str,
    scopes: Iterable[str],
    tenant_id: str,
    roles: Iterable[str] = (),
    session_id: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """Sign an access token with the active key; returns the JWT and its claims."""
    key = ring.active_key()
    if key is None:
        raise NoSigningKey("no active signing key")
    now = clock.timestamp()
    claims: dict[str, Any] = {
        "iss": settings.issuer,
        "sub": subject,
        "aud": settings.audience,
        "exp": now + settings.ttl,
        "iat": now,
        "nbf": now,
        "jti": secrets.token_urlsafe(16),
        "client_id": client_id,
        "scope": " ".join(scopes),
        "tenant_id": tenant_id,
        "roles": list(roles),
    }
    if session_id is not None:
        claims["sid"] = session_id
    return _signer(key).sign(claims), claims


class CompactSigner:
    """RS256 compact JWS (RFC 7515 §7.1) of one key with a prepared header.

    The header never changes for a key, so its encoding is done once; each token then costs
    one JSON encoding of its claims and one RSA signature by ``cryptography`` — the same key
    object joserfc holds, the same bytes joserfc would write (the tests verify every token
    with joserfc and PyJWT). A token is signed many times a second: joserfc's general path
    (header checks, algorithm registry, objects per call) was a sixth of the token endpoint.
    """

    def __init__(self, key: RSAKey, typ: str) -> None:
        header = {"typ": typ, "alg": ALGORITHM, "kid": key.kid}
        if key.private_key is None:
            raise NoSigningKey(f"signing key {key.kid} holds no private key")
        self.key = key
        self._signing_key = key.private_key
        self._prefix = _b64(json.dumps(header, separators=(",", ":")).encode()) + b"."

    def sign(self, claims: dict[str, Any]) -> str:
        signing_input = self._prefix + _b64(json.dumps(claims, separators=(",", ":")).encode())
        signature = self._signing_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return (signing_input + b"." + _b64(signature)).decode("ascii")


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


_signers: dict[str, CompactSigner] = {}


def _signer(key: RSAKey) -> CompactSigner:
    signer = _signers.get(str(key.kid))
    if signer is None or signer.key is not key:  # a key loaded again (another app, a reload)
        signer = _signers[str(key.kid)] = CompactSigner(key, TOKEN_TYPE)
    return signer


@dataclass(frozen=True)
class IdTokenSigning:
    """The key an ID token is signed with and its header: taken from one snapshot of the
    ring, so the ``kid`` always names the key that signed."""

    key: RSAKey
    header: dict[str, str]


def id_token_signing(ring: KeyRing) -> IdTokenSigning:
    key = ring.active_key()
    if key is None:
        raise NoSigningKey("no active signing key")
    return IdTokenSigning(key, {"alg": ALGORITHM, "typ": ID_TOKEN_TYPE, "kid": str(key.kid)})


def id_token_claims(settings: TokenSettings, client_id: str) -> dict[str, Any]:
    """The claims of an ID token that do not depend on the user (OpenID Connect Core §2):
    issued now, for the client, as long-lived as an access token (so a retired signing key
    stays published for as long as either kind of token it signed may be checked)."""
    now = clock.timestamp()
    return {"iss": settings.issuer, "aud": client_id, "azp": client_id, "iat": now, "exp": now + settings.ttl}


class _HintClaims(JWTClaimsRegistry):
    """An ID token used as a hint may have expired (RP-Initiated Logout §2: "even when the exp
    time has passed"); everything else about it is checked."""

    def validate_exp(self, value: object) -> None:
        if not isinstance(value, int):
            raise InvalidClaimError("exp")


def read_id_token_hint(token: str, ring: KeyRing, settings: TokenSettings) -> dict[str, Any]:
    """The claims of an ID token this service issued, expired or not (an ``id_token_hint``,
    OpenID Connect RP-Initiated Logout §2 and Core §3.1.2.1), or :class:`InvalidToken`."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("malformed token")
    try:
        header = jws.extract_compact(token.encode("ascii")).headers()
    except (JoseError, ValueError, TypeError, UnicodeError):
        raise InvalidToken("malformed token") from None
    if header.get("alg") != ALGORITHM or header.get("typ") != ID_TOKEN_TYPE:
        raise InvalidToken("not an ID token")
    if FORBIDDEN_HEADER_PARAMS & header.keys() or not isinstance(header.get("kid"), str):
        raise InvalidToken("forbidden header parameter")
    key = ring.verification_key(header["kid"])
    if key is None:
        raise InvalidToken("unknown signing key")
    try:
        claims = jwt.decode(token, key, algorithms=[ALGORITHM]).claims
        _HintClaims(
            now=clock.timestamp,
            leeway=settings.leeway,
            iss={"essential": True, "value": settings.issuer},
            sub={"essential": True},
            aud={"essential": True},
        ).validate(claims)
    except JoseError as error:
        raise InvalidToken(_describe(error)) from None
    except (ValueError, TypeError):
        raise InvalidToken("malformed token") from None
    return claims


def verify_access_token(token: str, ring: KeyRing, settings: TokenSettings) -> dict[str, Any]:
    """Return the claims of a valid access token, or raise :class:`InvalidToken`."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("malformed token")
    try:
        header = jws.extract_compact(token.encode("ascii")).headers()
    except (JoseError, ValueError, TypeError, UnicodeError):
        raise InvalidToken("malformed token") from None
    _check_header(header)
    key = ring.verification_key(header["kid"])
    if key is None:
        raise InvalidToken("unknown signing key")
    try:
        claims = jwt.decode(token, key, algorithms=[ALGORITHM]).claims
        _claims_registry(settings).validate(claims)
    except JoseError as error:
        raise InvalidToken(_describe(error)) from None
    except (ValueError, TypeError):
        raise InvalidToken("malformed token") from None
    return claims


def _check_header(header: dict[str, Any]) -> None:
    if header.get("alg") != ALGORITHM:
        raise InvalidToken("unsupported algorithm")
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower() not in ACCEPTED_TYPES:
        raise InvalidToken("not an access token")
    if FORBIDDEN_HEADER_PARAMS & header.keys():
        raise InvalidToken("forbidden header parameter")
    if not isinstance(header.get("kid"), str):
        raise InvalidToken("unknown signing key")


def _claims_registry(settings: TokenSettings) -> JWTClaimsRegistry:
    return JWTClaimsRegistry(
        now=clock.timestamp,
        leeway=settings.leeway,
        iss={"essential": True, "value": settings.issuer},
        aud={"essential": True, "value": settings.audience},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        jti={"essential": True},
        tenant_id={"essential": True},
        client_id={"essential": True},
    )


def _describe(error: JoseError) -> str:
    if isinstance(error, ExpiredTokenError):
        return "token expired"
    if isinstance(error, ClaimError):
        return str(error.description)  # e.g. "Invalid claim: 'aud'"; never echoes the token
    if isinstance(error, BadSignatureError):
        return "bad signature"
    return "invalid token"
