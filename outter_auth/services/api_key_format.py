"""The API key format (SPEC §6): ``outter_<env>_`` + 32 random base62 + 6-character checksum.

The checksum is CRC32 of everything before it, so a mistyped or truncated key is
refused here, with no I/O at all, and secret scanners can validate a match.
"""

from __future__ import annotations

import re
import secrets
import zlib
from dataclasses import dataclass, field

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
ENVIRONMENTS = ("live", "test")
RANDOM_LENGTH = 32  # 32 * log2(62) = 190.5 bits
CHECKSUM_LENGTH = 6  # 62**6 > 2**32
PREFIX = "outter_"
KEY_LENGTH = len(PREFIX) + len("live_") + RANDOM_LENGTH + CHECKSUM_LENGTH  # 50
# Published for secret scanners (README); the checksum makes a match near-certain.
KEY_PATTERN = re.compile(r"outter_(live|test)_[0-9A-Za-z]{38}")
DISPLAY_PREFIX_LENGTH = len("outter_live_") + 4


class MalformedApiKey(ValueError):
    """Not an Outter API key: wrong prefix, length, alphabet or checksum."""


@dataclass(frozen=True)
class ParsedKey:
    raw: str = field(repr=False)  # never in a log line or a traceback
    environment: str

    @property
    def display_prefix(self) -> str:
        return self.raw[:DISPLAY_PREFIX_LENGTH]

    @property
    def last4(self) -> str:
        return self.raw[-4:]


def base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, remainder = divmod(number, 62)
        digits.append(ALPHABET[remainder])
    return "".join(reversed(digits)).rjust(width, "0")


def checksum(body: str) -> str:
    return base62(zlib.crc32(body.encode("utf-8")) & 0xFFFFFFFF, CHECKSUM_LENGTH)


def generate(environment: str) -> str:
    if environment not in ENVIRONMENTS:
        raise ValueError(f"environment must be one of {ENVIRONMENTS}")
    body = f"{PREFIX}{environment}_" + "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
    return body + checksum(body)


def parse(raw: object) -> ParsedKey:
    """Validate the shape and checksum of a presented key (no database, no cache)."""
    if not isinstance(raw, str) or len(raw) != KEY_LENGTH or not KEY_PATTERN.fullmatch(raw):
        raise MalformedApiKey("malformed API key")
    body, check = raw[:-CHECKSUM_LENGTH], raw[-CHECKSUM_LENGTH:]
    if checksum(body) != check:
        raise MalformedApiKey("malformed API key")
    return ParsedKey(raw=raw, environment=raw[len(PREFIX) : len(PREFIX) + 4])
