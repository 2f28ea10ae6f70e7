"""Is this address on this machine? Servers bind loopback unless told otherwise."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def is_loopback_host(host: str) -> bool:
    """True for "localhost" and any address in 127.0.0.0/8 or ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str) -> bool:
    """True when the URL's host is a loopback host."""
    return is_loopback_host(urlsplit(url).hostname or "")
