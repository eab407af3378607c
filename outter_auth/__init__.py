"""Outter Auth: API keys, RS256 JWTs, sessions and the gateway contract for Outter."""

__version__ = "0.1.0"
