"""Which hosts and browser origins may talk to maghub (SPEC §9): the defence against DNS rebinding
and cross-site requests.

Local mode trusts the machine, not the browser. A web page can re-point its own domain at 127.0.0.1
(DNS rebinding); the browser then sends ``Host: rebind.attacker.example`` and counts the page as
"same origin", so neither CORS nor an Origin check on its own stops it. Only the ``Host`` does: it
names the domain the page was loaded from. So every request must name a host that is this machine
(a loopback name), the address maghub listens on, or a name the operator listed; and a request that
changes something and carries an ``Origin`` must come from an allowed origin.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

# Addresses that listen on every interface: not a name any client reaches maghub by.
WILDCARD_ADDRESSES = frozenset({"", "0.0.0.0", "::"})

# Origins of pages served from this machine (any port): front-end dev servers, ``vite preview``, …
LOOPBACK_ORIGIN_REGEX = r"https?://(localhost|127(\.\d{1,3}){3}|\[::1\])(:\d{1,5})?"


def host_name(host_header: str) -> str:
    """The name in a ``Host`` header value, lower case, without port, brackets or trailing dot."""
    value = host_header.strip().lower()
    if value.startswith("["):  # [v6] or [v6]:port
        return value[1 : value.find("]")] if "]" in value else value
    name, _, port = value.rpartition(":")
    if name and port.isdigit() and ":" not in name:
        value = name
    return value.rstrip(".")


def is_loopback_name(name: str) -> bool:
    """``localhost``, 127.0.0.0/8 or ::1 (``name`` as :func:`host_name` returns it)."""
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def normalize_allowed_host(entry: str) -> str:
    """One entry of MAGHUB_ALLOWED_HOSTS: a host name or IP address, or ``.example.com`` for that
    domain and all its subdomains. Raises ValueError with what to write instead."""
    value = entry.strip().lower()
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    if value == "*":
        raise ValueError(
            "'*' is not allowed: it would let any web page reach maghub through DNS rebinding. "
            "List the names users reach maghub by, e.g. maghub.example.com or .example.com"
        )
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    label = r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?"
    if not re.fullmatch(rf"\.?{label}(\.{label})*\.?", value):
        raise ValueError(
            f"{entry!r} is not a host name: write only the name (no scheme, port or path), "
            "e.g. maghub.example.com, 192.168.1.20, or .example.com for a domain and its subdomains"
        )
    return value.rstrip(".")


@dataclass(frozen=True)
class RequestOriginPolicy:
    """Decides, per request, whether its ``Host`` and ``Origin`` are allowed."""

    allowed_hosts: frozenset[str]
    """Names from MAGHUB_ALLOWED_HOSTS and the listen address; loopback names are always allowed."""
    cors_origins: frozenset[str]
    loopback_origins: bool
    """Local mode: pages on loopback origins (any port) are this machine's."""

    @classmethod
    def build(
        cls, *, listen_host: str, allowed_hosts: list[str], cors_origins: list[str], local_mode: bool
    ) -> RequestOriginPolicy:
        hosts = set(allowed_hosts)
        listen = host_name(listen_host) if listen_host.startswith("[") else listen_host.strip().lower()
        if listen not in WILDCARD_ADDRESSES:
            hosts.add(listen)  # a specific address or name maghub listens on is how clients reach it
        return cls(
            allowed_hosts=frozenset(hosts),
            cors_origins=frozenset(origin.rstrip("/").lower() for origin in cors_origins),
            loopback_origins=local_mode,
        )

    def host_allowed(self, host_header: str) -> bool:
        name = host_name(host_header)
        if not name:
            return False
        if is_loopback_name(name) or name in self.allowed_hosts:
            return True
        return any(
            entry.startswith(".") and (name == entry[1:] or name.endswith(entry)) for entry in self.allowed_hosts
        )

    def origin_allowed(self, origin: str, *, host_header: str) -> bool:
        """For a request that already passed :meth:`host_allowed`."""
        origin = origin.strip().rstrip("/").lower()
        if origin in self.cors_origins:
            return True
        scheme, _, authority = origin.partition("://")
        if scheme in ("http", "https") and authority == host_header.strip().lower():
            # maghub's own pages; either scheme, since a TLS proxy in front turns https into http.
            return True
        return self.loopback_origins and re.fullmatch(LOOPBACK_ORIGIN_REGEX, origin) is not None

    @property
    def cors_origin_regex(self) -> str | None:
        return LOOPBACK_ORIGIN_REGEX if self.loopback_origins else None

    @staticmethod
    def host_refusal(host_header: str) -> str:
        name = host_name(host_header)
        if not name:
            return "Request refused: it names no host (the Host header is missing)."
        return (
            f"Request refused: maghub is not served under the name {name!r}. Pages that re-point a name "
            "at this machine (DNS rebinding) are kept out this way. If you reach maghub by this name, "
            f"add it to MAGHUB_ALLOWED_HOSTS (e.g. MAGHUB_ALLOWED_HOSTS={name}) and restart."
        )

    @staticmethod
    def origin_refusal(origin: str) -> str:
        return (
            f"Cross-site request refused: a page at {origin!r} may not change anything here. "
            "Add its origin to MAGHUB_CORS_ORIGINS if it is a client you trust."
        )
