"""What Kong 3.x's declarative format and jwt plugin accept (from Kong's schemas), for the tests."""

from __future__ import annotations

TOP_LEVEL = frozenset({"_format_version", "_transform", "consumers", "plugins", "services", "routes"})
JWT_PLUGIN_FIELDS = frozenset(
    {
        "uri_param_names",
        "cookie_names",
        "header_names",
        "claims_to_verify",
        "key_claim_name",
        "secret_is_base64",
        "anonymous",
        "run_on_preflight",
        "maximum_expiration",
        "realm",
    }
)
JWT_CREDENTIAL_FIELDS = frozenset({"key", "secret", "algorithm", "rsa_public_key", "id", "tags"})
