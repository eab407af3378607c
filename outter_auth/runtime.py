"""Per-app runtime state (settings, signing keys), reached through ``runtime()``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from flask import current_app

from outter_auth.config import Settings
from outter_auth.services.api_keys import Peppers
from outter_auth.services.key_usage import LastUsedRecorder
from outter_auth.services.signing_keys import KeyStore
from outter_auth.services.tokens import TokenSettings


@dataclass
class Runtime:
    settings: Settings
    keystore: KeyStore
    token_settings: TokenSettings
    peppers: Peppers
    last_used: LastUsedRecorder


def runtime() -> Runtime:
    return cast(Runtime, current_app.extensions["outter_auth"])
