"""Field types shared by every schema."""

from __future__ import annotations

import unicodedata
from typing import Any

from marshmallow import ValidationError, fields


class Text(fields.String):
    """A string with no control characters.

    PostgreSQL refuses NUL in text columns (a 500 waiting to happen), and control
    characters in names and emails only ever serve to spoof log lines and UIs.
    """

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if any(unicodedata.category(ch) == "Cc" for ch in text):
            raise ValidationError("must not contain control characters")
        return text


class Secret(fields.String):
    """A password or secret: any text but NUL, never echoed back in an error."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError("Not a valid string.")
        if "\x00" in value:
            raise ValidationError("must not contain NUL characters")
        return value
