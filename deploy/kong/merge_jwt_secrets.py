#!/usr/bin/env python3
"""Put the jwt credentials that ``outter-auth keys kong-config`` renders into kong.yml.

    outter-auth keys kong-config | python3 deploy/kong/merge_jwt_secrets.py deploy/kong/kong.yml > kong.rendered.yml

Only the ``jwt_secrets`` of the consumer named in the rendered config change (all of them are
replaced: a key that left the JWKS leaves Kong too); every other entity of kong.yml stays as it
is. Refuses, with a one-line reason, when the rendered jwt plugin settings differ from the jwt
plugin of kong.yml (Kong would then look for the credential elsewhere than the tokens carry it).
Needs PyYAML (``pip install pyyaml``). Comments of kong.yml are not carried over.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml


class MergeError(Exception):
    """The two configurations do not fit together; the message says why."""


def _plugins(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Every plugin of a declarative config: global, per service, per route, per consumer."""
    found = list(config.get("plugins") or [])
    for service in config.get("services") or []:
        found += service.get("plugins") or []
        for route in service.get("routes") or []:
            found += route.get("plugins") or []
    for route in config.get("routes") or []:
        found += route.get("plugins") or []
    for consumer in config.get("consumers") or []:
        found += consumer.get("plugins") or []
    return found


def merge(kong: dict[str, Any], rendered: dict[str, Any]) -> dict[str, Any]:
    """``kong`` with the jwt_secrets of ``rendered`` (the output of ``keys kong-config``)."""
    (source,) = rendered.get("consumers") or [None]
    if not source or not source.get("jwt_secrets"):
        raise MergeError("the rendered config has no consumer with jwt_secrets")
    targets = [c for c in kong.get("consumers") or [] if c.get("username") == source["username"]]
    if len(targets) != 1:
        raise MergeError(f"kong.yml needs exactly one consumer named {source['username']!r}")
    rendered_jwt = [p["config"] for p in rendered.get("plugins") or [] if p.get("name") == "jwt"]
    ours = [p.get("config") or {} for p in _plugins(kong) if p.get("name") == "jwt"]
    if not ours:
        raise MergeError("kong.yml has no jwt plugin")
    for config in ours:
        for setting in rendered_jwt[0] if rendered_jwt else {}:
            if config.get(setting) != rendered_jwt[0][setting]:
                raise MergeError(
                    f"jwt plugin setting {setting}: kong.yml has {config.get(setting)!r}, "
                    f"keys kong-config renders {rendered_jwt[0][setting]!r}"
                )
    targets[0]["jwt_secrets"] = source["jwt_secrets"]
    return kong


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(config: dict[str, Any]) -> str:
    return yaml.dump(config, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=120)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    with open(argv[1]) as handle:
        kong = yaml.safe_load(handle)
    rendered = yaml.safe_load(sys.stdin)
    try:
        merged = merge(kong, rendered)
    except MergeError as error:
        print(f"merge_jwt_secrets: {error}", file=sys.stderr)
        return 1
    sys.stdout.write(dump(merged))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
