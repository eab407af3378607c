"""marshmallow request and response schemas; unknown fields are refused (422)."""
