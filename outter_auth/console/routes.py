"""The console's blueprint with every area's views on it (importing a module registers them)."""

from outter_auth.console import account, api_key_actions, api_key_detail, api_keys, signin, signing_keys  # noqa: F401
from outter_auth.console.blueprint import blp

__all__ = ["blp"]
