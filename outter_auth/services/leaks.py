"""Leak reports from secret scanners (SPEC §14), in GitHub's secret-scanning partner format.

A scanner that finds something looking like our keys (SPEC §6's pattern, its checksum
holding) where anybody can read it POSTs a JSON array of ``{"token", "type", "url",
"source"}``, signed with ECDSA P-256 / SHA-256 over the raw body by a key it names in
``Github-Public-Key-Identifier``; the base64 DER signature is in
``Github-Public-Key-Signature``. The scanner's public keys are GitHub's
``{"public_keys": [{"key_identifier", "key", "is_current"}]}`` document, kept by the
operator in ``OUTTER_SECRET_SCANNING_KEYS_FILE`` (re-read when it changes, so a key
rotation needs no restart). Any listed key is accepted: GitHub keeps the previous key
listed while it rotates.

Nothing in a report is trusted before its signature holds, and nothing is changed by a
report that does not hold. A reported key that exists is revoked at once (announced to
every process, as any revocation) and the report recorded in its tenant's audit trail,
with where it was found and never the key; the answer labels each token
``true_positive`` (one of our keys, revoked now or before) or ``false_positive``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import threading
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.orm import Session

from outter_auth.models import ApiKey
from outter_auth.services import api_key_format, api_keys
from outter_auth.services.api_keys import Peppers
from outter_auth.services.audit import Origin
from outter_auth.services.ceilings import Caller
from outter_auth.services.exceptions import DomainError, NotFound

log = logging.getLogger(__name__)

MAX_TOKENS = 1000  # per report (SPEC §14)
REPORTER = "secret-scanning"  # the actor of the audit events: not a principal of any tenant
MAX_KEY_ID_LENGTH = 256
MAX_SIGNATURE_LENGTH = 512  # base64 of a DER P-256 signature is at most 96 characters
# What the audit trail keeps of the strings a report carries (a body is 64 KiB at most).
MAX_TEXT = {"url": 2048, "source": 64, "type": 128}


class LeakReportsOff(NotFound):
    """No scanner keys file: the endpoint does not exist (404)."""


class ScannerKeysUnavailable(DomainError):
    """The scanner keys file exists but cannot be used (503: the scanner retries later)."""


class UntrustedReport(DomainError):
    """The signature is missing, malformed, made by an unknown key or does not hold (401)."""


class MalformedReport(DomainError):
    """The signed body is not a report: not JSON, not an array of objects with a token (400)."""


class ReportTooLarge(DomainError):
    """More tokens than one report may carry (413)."""


@dataclass(frozen=True)
class Reported:
    token: str
    type: str
    url: str
    source: str


@dataclass(frozen=True)
class Label:
    """The answer about one reported token, in the scanner's feedback format."""

    token_hash: str  # hex SHA-256 of the token: the scanner matches it to what it sent
    token_type: str
    label: str  # "true_positive" | "false_positive"

    def as_dict(self) -> dict[str, str]:
        return {"token_hash": self.token_hash, "token_type": self.token_type, "label": self.label}


class ScannerKeys:
    """The scanner's public keys, from a file re-read whenever it changes."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._keys: dict[str, ec.EllipticCurvePublicKey] = {}

    def check(self, key_id: str | None, signature: str | None, body: bytes) -> None:
        """Return if ``signature`` is the named key's over ``body``; raise otherwise."""
        keys = self._current()
        if not key_id or not signature:
            raise UntrustedReport(
                "the report is not signed (Github-Public-Key-Identifier, Github-Public-Key-Signature)"
            )
        if len(key_id) > MAX_KEY_ID_LENGTH or len(signature) > MAX_SIGNATURE_LENGTH:
            raise UntrustedReport("malformed signature headers")
        public_key = keys.get(key_id)
        if public_key is None:
            raise UntrustedReport("unknown signing key")
        try:
            der = base64.b64decode(signature, validate=True)
            public_key.verify(der, body, ec.ECDSA(hashes.SHA256()))
        except (binascii.Error, ValueError, InvalidSignature):
            raise UntrustedReport("bad signature") from None

    def _current(self) -> dict[str, ec.EllipticCurvePublicKey]:
        try:
            status = os.stat(self._path)
        except FileNotFoundError:
            log.warning("secret scanning keys file %s does not exist: leak reports are off", self._path)
            raise LeakReportsOff("leak reports are not configured") from None
        except OSError as error:
            raise self._unavailable(error) from None
        stamp = (status.st_mtime_ns, status.st_size)
        with self._lock:
            if stamp != self._stamp:
                try:
                    with open(self._path, "rb") as file:
                        self._keys = parse_keys_document(file.read())
                except (OSError, ValueError) as error:
                    raise self._unavailable(error) from None
                self._stamp = stamp
            return self._keys

    def _unavailable(self, error: Exception) -> ScannerKeysUnavailable:
        log.error("secret scanning keys file %s is unusable: %s", self._path, error)
        return ScannerKeysUnavailable("leak reports are unavailable")


def parse_keys_document(document: bytes) -> dict[str, ec.EllipticCurvePublicKey]:
    """``{"public_keys": [{"key_identifier", "key" (PEM)}]}`` → P-256 keys by identifier;
    ValueError if the document is not one. A key of another kind is skipped (logged)."""
    try:
        listed = json.loads(document)["public_keys"]
    except (ValueError, KeyError, TypeError):
        raise ValueError('not a {"public_keys": [...]} document') from None
    if not isinstance(listed, list):
        raise ValueError('"public_keys" is not a list')
    keys: dict[str, ec.EllipticCurvePublicKey] = {}
    for entry in listed:
        key_id, pem = (entry.get("key_identifier"), entry.get("key")) if isinstance(entry, dict) else (None, None)
        if not isinstance(key_id, str) or not isinstance(pem, str):
            raise ValueError("each public key needs a key_identifier and a key")
        try:
            key = serialization.load_pem_public_key(pem.encode())
        except (ValueError, UnsupportedAlgorithm):
            raise ValueError(f"key {key_id} is not a PEM public key") from None
        if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
            keys[key_id] = key
        else:
            log.warning("secret scanning key %s is not an ECDSA P-256 key: skipped", key_id)
    return keys


def parse_report(body: bytes) -> list[Reported]:
    """The reported tokens of a (signed) body."""
    try:
        entries = json.loads(body)
    except (ValueError, RecursionError):
        raise MalformedReport("the report is not JSON") from None
    if not isinstance(entries, list):
        raise MalformedReport("the report must be a JSON array")
    if len(entries) > MAX_TOKENS:
        raise ReportTooLarge(f"a report carries at most {MAX_TOKENS} tokens")
    return [_reported(entry) for entry in entries]


def _reported(entry: Any) -> Reported:
    if not isinstance(entry, dict) or not isinstance(entry.get("token"), str):
        raise MalformedReport("each reported match must be an object with a string `token`")
    texts = {name: entry.get(name, "") for name in ("type", "url", "source")}
    if not all(isinstance(value, str) for value in texts.values()):
        raise MalformedReport("`type`, `url` and `source` must be strings")
    return Reported(entry["token"], texts["type"], texts["url"], texts["source"])


def handle_report(db: Session, reported: list[Reported], *, peppers: Peppers, origin: Origin | None) -> list[Label]:
    """Revoke every reported key that exists and label each token; one transaction."""
    labels = []
    for match in reported:
        key = _our_key(db, match.token, peppers)
        if key is not None:
            caller = Caller(key.tenant_id, REPORTER, origin=origin)
            api_keys.revoke_leaked(db, caller, key, _where(match))
        token_hash = hashlib.sha256(match.token.encode("utf-8", "surrogatepass")).hexdigest()
        labels.append(Label(token_hash, match.type, "true_positive" if key is not None else "false_positive"))
    db.commit()
    return labels


def _our_key(db: Session, token: str, peppers: Peppers) -> ApiKey | None:
    """The stored key for ``token``, or None (malformed tokens are refused without I/O)."""
    try:
        parsed = api_key_format.parse(token)
    except api_key_format.MalformedApiKey:
        return None
    found = api_keys.find_by_raw(db, parsed.raw, peppers)
    return found.key if found is not None else None


def _where(match: Reported) -> dict[str, str]:
    """Where the key was found, as the audit trail keeps it (bounded, no NUL)."""
    return {name: getattr(match, name).replace("\x00", "")[:limit] for name, limit in MAX_TEXT.items()}
