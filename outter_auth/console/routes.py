"""The console's blueprint with every area's views on it (importing a module registers them)."""

from outter_auth.console import account, audit, clients, signin, signing_keys  # noqa: F401
from outter_auth.console.blueprint import blp

__all__ = ["blp"]
