"""Client addresses as the budgets that count them: an IPv4 address alone, IPv6 by network."""

from __future__ import annotations

import functools
import ipaddress


@functools.lru_cache(maxsize=4096)
def address_bucket(address: str, ipv6_prefix: int) -> str:
    """IPv4 addresses count alone; an IPv6 address counts as its /``ipv6_prefix`` network
    (default /64): one subscriber usually holds a whole /64, so counting each of its
    2**64 addresses alone would give it an unlimited budget."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv4Address):
        return address
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.ip_network(f"{ip}/{ipv6_prefix}", strict=False))
