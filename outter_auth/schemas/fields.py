"""Field types shared by every schema."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Any

from marshmallow import ValidationError, fields, validate

from outter_auth.scopes import INVALID_SCOPE, SCOPE_PATTERN

MULTILINE_WHITESPACE = frozenset("\n\r\t")
# What Text and Secret refuse, said in the OpenAPI document as ECMA-262 patterns (Unicode's
# control characters, category Cc, are exactly U+0000-U+001F and U+007F-U+009F), so that
# clients and schema fuzzers know it before they send.
NO_CONTROLS = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
NO_CONTROLS_BUT_WHITESPACE = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
NO_NUL = "^[^\\u0000]*$"


def _require_encodable(text: str) -> None:
    # JSON may carry lone surrogates ("\ud800"): valid str, not encodable, a 500 later.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("must be valid Unicode text") from None


class Text(fields.String):
    """A string with no control characters (``multiline`` allows newlines and tabs).

    PostgreSQL refuses NUL in text columns (a 500 waiting to happen), and control
    characters in names and emails only ever serve to spoof log lines and UIs.
    """

    def __init__(self, *args: Any, multiline: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.allowed_controls = MULTILINE_WHITESPACE if multiline else frozenset()
        if not any(isinstance(v, validate.Regexp) for v in self.validators):  # a Regexp is stricter
            self.metadata.setdefault("pattern", NO_CONTROLS_BUT_WHITESPACE if multiline else NO_CONTROLS)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        _require_encodable(text)
        if any(unicodedata.category(ch) == "Cc" and ch not in self.allowed_controls for ch in text):
            raise ValidationError("must not contain control characters")
        return text


class Secret(fields.String):
    """A password or secret: any text but NUL, never echoed back in an error."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.metadata.setdefault("pattern", NO_NUL)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError("Not a valid string.")
        _require_encodable(value)
        if "\x00" in value:
            raise ValidationError("must not contain NUL characters")
        return value


class UtcDateTime(fields.AwareDateTime):
    """An ISO 8601 date-time (UTC when it has no offset), as the UTC instant it names.

    ``9999-12-31T23:59:59-14:00`` is a valid date-time, but in UTC it falls in the year
    10000, which Python cannot represent (the database layer, which stores UTC, once
    raised OverflowError: a 500); likewise ``0001-01-01T00:00:00+01:00`` in the year 0.
    Every date-time the OpenAPI document allows is accepted, so such an edge is taken as
    the latest (or earliest) second UTC can hold: no stored instant lies beyond either,
    so an expiry or a filter means the same.
    """

    EARLIEST = datetime(1, 1, 1, tzinfo=UTC)
    LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("default_timezone", UTC)
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        moment: datetime = super()._deserialize(value, attr, data, **kwargs)
        try:
            moment.astimezone(UTC)
        except OverflowError:
            return self.LATEST if moment.year == datetime.max.year else self.EARLIEST
        return moment


class StrictBoolean(fields.Boolean):
    """JSON ``true``/``false`` only: ``0``, ``1`` and ``"yes"`` are refused, not guessed."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError("Not a valid boolean.")
        return value


def max_utf8_bytes(limit: int) -> Any:
    """A validator bounding the UTF-8 size of a string (bcrypt reads 72 bytes)."""

    def validate(value: str) -> None:
        if len(value.encode("utf-8")) > limit:
            raise ValidationError(f"must be at most {limit} bytes in UTF-8")

    return validate


def scope_field() -> Text:
    """One scope (SPEC §3's grammar), checked here so that the document says it too; the
    catalogue (``OUTTER_SCOPES``) is the service's to check."""
    return Text(validate=validate.Regexp(f"^{SCOPE_PATTERN.pattern}$", error=INVALID_SCOPE))
