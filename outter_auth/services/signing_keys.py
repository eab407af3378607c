"""Signing-key store: RSA-2048 PEM files plus a manifest, with the key lifecycle.

Layout of ``OUTTER_KEYS_DIR``::

    keyring.json     manifest: kid, created_at, activates_at, retired_at, revoked_at per key
    <kid>.pem        private key, mode 0600 (a key file others can read is refused)

A key's state is derived from its timestamps and the clock, never stored, so
every worker and instance sharing the directory agrees without a coordinator:

- ``pending``  published in the JWKS, signs nothing (``now < activates_at``);
- ``active``   the key with the latest ``activates_at`` that has passed and is not
  retired: exactly one signs;
- ``retired``  superseded or retired by hand; still published until every token
  it signed has expired (plus clock leeway), then ``expired`` and gone from the JWKS;
- ``revoked``  withdrawn at once (a compromised key): unpublished, and every token it
  signed is refused from the next reload on (within a second everywhere).

Writers (the CLI, or the first development start) take an exclusive ``flock`` and
replace the manifest atomically; readers re-read it when its stat changes, checked
at most once per second, and parse each PEM once per process.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from joserfc.jwk import RSAKey

from outter_auth import clock

log = logging.getLogger(__name__)

MANIFEST = "keyring.json"
LOCK_FILE = ".keyring.lock"
KEY_BITS = 2048
RELOAD_CHECK_SECONDS = 1.0


class SigningKeyError(Exception):
    """A signing-key command cannot be carried out; the message says why."""


@dataclass(frozen=True)
class KeyRecord:
    kid: str
    created_at: datetime
    activates_at: datetime
    retired_at: datetime | None = None
    revoked_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        data = {
            "kid": self.kid,
            "created_at": self.created_at.isoformat(),
            "activates_at": self.activates_at.isoformat(),
            "retired_at": self.retired_at.isoformat() if self.retired_at else None,
        }
        if self.revoked_at is not None:  # manifests without it stay readable by older versions
            data["revoked_at"] = self.revoked_at.isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KeyRecord:
        retired, revoked = data.get("retired_at"), data.get("revoked_at")
        return cls(
            kid=data["kid"],
            created_at=datetime.fromisoformat(data["created_at"]),
            activates_at=datetime.fromisoformat(data["activates_at"]),
            retired_at=datetime.fromisoformat(retired) if retired else None,
            revoked_at=datetime.fromisoformat(revoked) if revoked else None,
        )

    def revoked(self, now: datetime) -> bool:
        return self.revoked_at is not None and self.revoked_at <= now


@dataclass(frozen=True)
class KeyState:
    record: KeyRecord
    status: str  # pending | active | retired | expired | revoked
    retired_since: datetime | None
    published: bool


def key_states(records: list[KeyRecord], token_lifetime: timedelta, now: datetime) -> list[KeyState]:
    """Derive each key's state at ``now`` from the timestamps alone.

    A key is superseded as soon as a later key activates, and a superseded key
    never signs again, even if its successor is retired afterwards.
    """
    ordered = sorted(records, key=lambda r: r.activates_at)

    def ever_activated(r: KeyRecord) -> bool:
        return r.activates_at <= now and not (r.retired_at and r.retired_at <= r.activates_at)

    started = [r for r in ordered if ever_activated(r)]
    latest = started[-1] if started else None
    active = latest if latest and (latest.retired_at is None or latest.retired_at > now) else None
    if active is not None and active.revoked(now):
        active = None  # a revoked key never signs; its predecessors stay superseded

    states = []
    for record in ordered:
        if record.revoked(now):
            states.append(KeyState(record, "revoked", record.revoked_at, False))
        elif record is active:
            states.append(KeyState(record, "active", None, True))
        elif not ever_activated(record) and not (record.retired_at and record.retired_at <= now):
            states.append(KeyState(record, "pending", None, True))
        else:
            # Its successors are the keys that started after it in activation order (list
            # order, not a strict ">" on timestamps: two keys may share an instant).
            later = started[started.index(record) + 1 :] if record in started else []
            ends = [r.activates_at for r in later]
            if record.retired_at and record.retired_at <= now:
                ends.append(record.retired_at)
            since = min(ends)
            # Published until every token it could have signed has expired.
            published = since + token_lifetime > now
            states.append(KeyState(record, "retired" if published else "expired", since, published))
    return states


class KeyRing:
    """An immutable snapshot of the manifest with the parsed keys."""

    def __init__(self, records: list[KeyRecord], keys: dict[str, RSAKey], token_lifetime: timedelta):
        self.records = records
        self._keys = keys
        self._token_lifetime = token_lifetime
        # Serialising a key costs more than a whole JWKS request otherwise: do it once per reload.
        self._public = {kid: public_jwk(key) for kid, key in keys.items()}
        self._active: tuple[int, RSAKey | None] | None = None  # (second, active key) of the last ask

    @property
    def token_lifetime(self) -> timedelta:
        """How long a retired key stays published: the life of the last token it signed."""
        return self._token_lifetime

    def states(self, now: datetime | None = None) -> list[KeyState]:
        return key_states(self.records, self._token_lifetime, now or clock.now())

    def active_key(self, now: datetime | None = None) -> RSAKey | None:
        if now is None:  # every token asks: the answer holds for a second (states change on whole seconds)
            second = clock.timestamp()
            cached = self._active
            if cached is not None and cached[0] == second:
                return cached[1]
            key = self._active_at(clock.now())
            self._active = (second, key)
            return key
        return self._active_at(now)

    def _active_at(self, now: datetime) -> RSAKey | None:
        for state in self.states(now):
            if state.status == "active":
                return self._keys[state.record.kid]
        return None

    def verification_key(self, kid: str, now: datetime | None = None) -> RSAKey | None:
        """The key for ``kid`` while it is published (pending, active or retired)."""
        for state in self.states(now):
            if state.record.kid == kid and state.published:
                return self._keys[kid]
        return None

    def key(self, kid: str) -> RSAKey:
        return self._keys[kid]

    def published_jwks(self, now: datetime | None = None) -> dict[str, list[dict[str, Any]]]:
        return {"keys": [self._public[s.record.kid] for s in self.states(now) if s.published]}


def public_jwk(key: RSAKey) -> dict[str, Any]:
    """The public half only, in the form SPEC §4 fixes for the JWKS."""
    data = key.as_dict(private=False)
    return {"kty": "RSA", "kid": key.kid, "use": "sig", "alg": "RS256", "n": data["n"], "e": data["e"]}


class KeyStore:
    """The signing keys in one directory, shared by every worker and instance that mounts it."""

    def __init__(self, directory: str | os.PathLike[str], token_lifetime: timedelta):
        self.directory = Path(directory)
        self._token_lifetime = token_lifetime
        self._lock = threading.Lock()
        self._parsed: dict[str, RSAKey] = {}
        self._ring = KeyRing([], {}, token_lifetime)
        self._stat: tuple[int, int, int] | None = None
        self._checked_at = float("-inf")

    # -- reading ---------------------------------------------------------------

    def ring(self) -> KeyRing:
        """The current snapshot; re-reads the manifest only when its stat changed."""
        if time.monotonic() - self._checked_at >= RELOAD_CHECK_SECONDS:
            self.reload()
        return self._ring

    def reload(self, force: bool = False) -> KeyRing:
        with self._lock:
            self._checked_at = time.monotonic()
            try:
                st = (self.directory / MANIFEST).stat()
            except FileNotFoundError:
                self._ring, self._stat = KeyRing([], {}, self._token_lifetime), None
                return self._ring
            stat = (st.st_mtime_ns, st.st_size, st.st_ino)
            if force or stat != self._stat:
                records = self._read_manifest()
                for record in records:
                    if record.kid not in self._parsed:
                        self._parsed[record.kid] = self._load_pem(record.kid)
                self._ring = KeyRing(records, dict(self._parsed), self._token_lifetime)
                self._stat = stat
            return self._ring

    def _read_manifest(self) -> list[KeyRecord]:
        try:
            data = json.loads((self.directory / MANIFEST).read_text())
            return [KeyRecord.from_json(item) for item in data["keys"]]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise SigningKeyError(f"cannot read {self.directory / MANIFEST}: {error}") from error

    def _load_pem(self, kid: str) -> RSAKey:
        path = self.directory / f"{kid}.pem"
        try:
            key = RSAKey.import_key(path.read_bytes())
        except (OSError, ValueError) as error:
            raise SigningKeyError(f"cannot load signing key {path}: {error}") from error
        if not key.is_private:
            raise SigningKeyError(f"{path} holds no private key")
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise SigningKeyError(f"{path} is readable by others (mode {mode:o}): chmod 600 it")
        key.ensure_kid()
        if key.kid != kid:
            raise SigningKeyError(f"{path}: thumbprint does not match its kid")
        return key

    # -- writing (CLI, first development start) --------------------------------

    @contextmanager
    def _writing(self) -> Iterator[list[KeyRecord]]:
        """Exclusive across processes; yields the records to edit in place, then saves them."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(self.directory / LOCK_FILE, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                path = self.directory / MANIFEST
                records = self._read_manifest() if path.exists() else []
                yield records
                tmp = path.with_suffix(".tmp")
                tmp.write_text(json.dumps({"keys": [r.as_json() for r in records]}, indent=2) + "\n")
                os.replace(tmp, path)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        self.reload(force=True)

    def generate(self, only_if_none_active: bool = False) -> KeyRecord | None:
        """Create the first RSA-2048 key, active at once.

        Refused when a key already signs (rotation publishes a pending key first);
        with ``only_if_none_active`` that case returns None instead, for workers
        racing to create the first development key.
        """
        with self._writing() as records:
            states = key_states(records, self._token_lifetime, clock.now())
            if any(s.status == "active" for s in states):
                if only_if_none_active:
                    return None
                raise SigningKeyError("an active signing key exists already; use `keys rotate`")
            return self._add_key(records, activates_in=timedelta(0))

    def rotate(self, publish_for: timedelta) -> KeyRecord:
        """Publish a new key now; it starts signing once it has been in the JWKS for
        ``publish_for`` (the JWKS max-age), so no verifier meets an unknown ``kid``."""
        with self._writing() as records:
            # Plus one reload interval: a worker may serve the old JWKS that much longer.
            return self._add_key(records, activates_in=publish_for + timedelta(seconds=RELOAD_CHECK_SECONDS))

    def activate(self, kid: str, *, now: bool, publish_for: timedelta) -> KeyRecord:
        """Bring a pending key forward: at once (``now``, for emergencies, when a
        verifier may meet the new ``kid`` before its cached JWKS has it), or as soon
        as it has been published for ``publish_for``."""
        with self._writing() as records:
            index, state = self._state_of(records, kid)
            if state.status != "pending":
                raise SigningKeyError(f"{kid} is {state.status}: only a pending key can be activated")
            record = records[index]
            at = clock.now() if now else max(clock.now(), record.created_at + publish_for)
            records[index] = replace(record, activates_at=min(at, record.activates_at))
            return records[index]

    def retire(self, kid: str) -> KeyRecord:
        """Stop a key from ever signing; it stays published until its tokens expired."""
        with self._writing() as records:
            index, state = self._state_of(records, kid)
            if state.status == "active":
                raise SigningKeyError(f"{kid} signs every token: rotate, let the new key activate, then retire")
            if records[index].retired_at is None:
                records[index] = replace(records[index], retired_at=clock.now())
            return records[index]

    def revoke(self, kid: str) -> KeyRecord:
        """Withdraw a key at once (compromised): unpublished, its tokens refused. The key
        that signs cannot be revoked: rotate and activate a successor first."""
        with self._writing() as records:
            index, state = self._state_of(records, kid)
            if state.status == "active":
                raise SigningKeyError(
                    f"{kid} signs every token: first `keys rotate`, then `keys activate NEW_KID --now`, then revoke it"
                )
            if records[index].revoked_at is None:
                records[index] = replace(records[index], revoked_at=clock.now())
            return records[index]

    def _state_of(self, records: list[KeyRecord], kid: str) -> tuple[int, KeyState]:
        states = {s.record.kid: s for s in key_states(records, self._token_lifetime, clock.now())}
        for index, record in enumerate(records):
            if record.kid == kid:
                return index, states[kid]
        raise SigningKeyError(f"no signing key with kid {kid}")

    def _add_key(self, records: list[KeyRecord], activates_in: timedelta) -> KeyRecord:
        key = RSAKey.generate_key(KEY_BITS, private=True)
        key.ensure_kid()
        self._write_pem(key)
        now = clock.now()
        record = KeyRecord(kid=str(key.kid), created_at=now, activates_at=now + activates_in)
        records.append(record)
        return record

    def _write_pem(self, key: RSAKey) -> None:
        path = self.directory / f"{key.kid}.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key.as_pem(private=True))


def public_pem(key: RSAKey) -> str:
    return key.as_pem(private=False).decode("ascii")


def kong_declarative_config(ring: KeyRing, consumer: str = "outter-auth-users") -> str:
    """Kong (OSS) declarative config: one ``jwt`` credential per published ``kid``.

    Kong cannot read a JWKS, so this is rendered and applied whenever the key set
    changes; run it right after ``keys rotate`` so Kong knows the pending key
    before it signs. The ``jwt`` plugin finds the credential by the ``kid`` header
    (``key_claim_name: kid``; Kong looks in the claims, then the header).
    """
    lines = [
        '_format_version: "3.0"',
        "consumers:",
        f"- username: {consumer}",
        "  jwt_secrets:",
    ]
    for state in ring.states():
        if not state.published:
            continue
        key = ring.key(state.record.kid)
        lines += [
            f'  - key: "{key.kid}"',
            "    algorithm: RS256",
            "    rsa_public_key: |",
            *[f"      {line}" for line in public_pem(key).strip().splitlines()],
        ]
    lines += [
        "plugins:",
        "- name: jwt",
        "  config:",
        "    key_claim_name: kid",
        # exp only: Kong checks nbf with no leeway, and our nbf is the issuing instant.
        "    claims_to_verify:",
        "    - exp",
        "    header_names:",
        "    - authorization",
    ]
    return "\n".join(lines) + "\n"
