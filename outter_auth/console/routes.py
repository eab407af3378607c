"""The console's blueprint with every area's views on it (importing a module registers them)."""

from outter_auth.console import (  # noqa: F401
    account,
    api_key_actions,
    api_key_detail,
    api_keys,
    audit,
    clients,
    projects,
    signin,
    signing_keys,
    users,
)
from outter_auth.console.blueprint import blp

__all__ = ["blp"]
