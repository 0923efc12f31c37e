"""Which hosts and addresses an input may come from: the SSRF rules of the HTTP fetcher.

Two questions, answered without any I/O so they are easy to test exhaustively:

- :func:`ip_literal`: does a URL's host name an address directly? It refuses the odd spellings
  of IPv4 that ``inet_aton`` (and so ``getaddrinfo``) accepts, such as ``2130706433``,
  ``0177.0.0.1``, ``0x7f.1`` and ``127.1``: they are only ever written to slip past filters, so
  we refuse them outright rather than guess what the resolver will make of them.
- :func:`refusal`: may we connect to this address? Python's ``ipaddress.is_global`` is a start
  but misses multicast, IPv6 site-local, and every IPv6 form that embeds an IPv4 address
  (``::127.0.0.1``, 6to4 ``2002:7f00:1::``, NAT64 ``64:ff9b::7f00:1``), and its answers
  change between Python versions; so the ranges are spelled out here, after IANA's
  special-purpose registries, and ``is_global`` is only a last check on top.
"""

from __future__ import annotations

import re
import socket
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address

import attrs

__all__ = ["IPAddress", "Refusal", "ip_literal", "refusal"]

#: An address a host resolves to.
IPAddress = IPv4Address | IPv6Address


@attrs.frozen
class Refusal:
    """Why an address is refused."""

    #: "a loopback address", "a link-local address (...)": reads after "<address> is".
    reason: str
    #: True when ``allow_private_networks=True`` lifts the refusal.
    private: bool


@attrs.frozen
class _Range:
    network: IPv4Network | IPv6Network
    reason: str
    private: bool = False


def _ranges(*rows: tuple[str, str, bool]) -> tuple[_Range, ...]:
    return tuple(
        _Range(
            network=IPv4Network(net) if "." in net else IPv6Network(net),
            reason=reason,
            private=private,
        )
        for net, reason, private in rows
    )


# Not globally reachable, after https://www.iana.org/assignments/iana-ipv4-special-registry.
# The third column says whether allow_private_networks=True lets it through.
_IPV4 = _ranges(
    ("0.0.0.0/8", "in 0.0.0.0/8 ('this network': connects to this machine)", False),
    ("10.0.0.0/8", "a private address", True),
    ("100.64.0.0/10", "a shared carrier-grade NAT address (100.64.0.0/10)", True),
    ("127.0.0.0/8", "a loopback address", True),
    ("169.254.0.0/16", "a link-local address (cloud metadata services live here)", False),
    ("172.16.0.0/12", "a private address", True),
    ("192.0.0.0/24", "an IETF protocol assignment (192.0.0.0/24)", False),
    ("192.0.2.0/24", "a documentation address", False),
    ("192.88.99.0/24", "a 6to4 relay anycast address", False),
    ("192.168.0.0/16", "a private address", True),
    ("198.18.0.0/15", "a benchmarking address", False),
    ("198.51.100.0/24", "a documentation address", False),
    ("203.0.113.0/24", "a documentation address", False),
    ("224.0.0.0/4", "a multicast address", False),
    ("240.0.0.0/4", "a reserved or broadcast address", False),
)

# After https://www.iana.org/assignments/iana-ipv6-special-registry. Forms embedding IPv4
# (mapped, NAT64, 6to4, Teredo) are unwrapped first by _embedded.
_IPV6 = _ranges(
    ("::/128", "the unspecified address", False),
    ("::1/128", "a loopback address", True),
    ("::/96", "an IPv4-compatible address (deprecated)", False),
    ("64:ff9b:1::/48", "a local-use NAT64 address", False),
    ("100::/64", "a discard-only address", False),
    ("2001::/32", "a Teredo tunnel address", False),
    ("2001::/23", "an IETF protocol assignment (2001::/23)", False),
    ("2001:db8::/32", "a documentation address", False),
    ("2002::/16", "a 6to4 address (deprecated)", False),
    ("3fff::/20", "a documentation address", False),
    ("fc00::/7", "a unique local (private) address", True),
    ("fe80::/10", "a link-local address", False),
    ("fec0::/10", "a site-local (private) address", True),
    ("ff00::/8", "a multicast address", False),
)

#: Every global IPv6 unicast address is in here; the rest of the space is reserved.
_IPV6_GLOBAL_UNICAST = IPv6Network("2000::/3")
_NAT64 = IPv6Network("64:ff9b::/96")
_6TO4 = IPv6Network("2002::/16")

_NUMBER = re.compile(r"[0-9]+|0x[0-9a-f]*", re.IGNORECASE)
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_DOTTED_QUAD = re.compile(rf"{_OCTET}(\.{_OCTET}){{3}}")
_LABEL = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?", re.IGNORECASE)


def ip_literal(host: str) -> IPAddress | None:
    """The address ``host`` names literally, or None when it is a DNS name to resolve.

    Args:
        host: A URL's host, ASCII (IDNA already applied), without ``[]`` around IPv6.

    Returns:
        The address, or None for a well-formed DNS name.

    Raises:
        ValueError: the host is not a valid name or address, or spells an IPv4 address in a
            form other than four decimal numbers; the message says what to write instead.
    """
    if ":" in host:
        if "%" in host:
            raise ValueError(f"host {host!r} has an IPv6 zone identifier; those are not allowed")
        try:
            return IPv6Address(host)
        except ValueError:
            raise ValueError(f"host {host!r} is not a valid IPv6 address") from None
    name = host.removesuffix(".")
    labels = name.split(".")
    if _NUMBER.fullmatch(labels[-1]):
        # getaddrinfo reads any host ending in a number with inet_aton's rules.
        if _DOTTED_QUAD.fullmatch(name):
            return IPv4Address(name)
        try:
            packed = socket.inet_aton(name)
        except OSError:
            raise ValueError(
                f"host {host!r} ends in a number but is not an IPv4 address; write addresses "
                "as four decimal numbers (a.b.c.d)"
            ) from None
        raise ValueError(
            f"host {host!r} is an unusual spelling of the IPv4 address {IPv4Address(packed)}; "
            "write addresses as four decimal numbers (a.b.c.d) without leading zeros"
        )
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"host {host!r} is not a valid host name")
    return None


def _embedded(address: IPv6Address) -> tuple[str, list[IPv4Address]] | None:
    """The IPv4 addresses an IPv6 address carries, and the name of the form."""
    if address.ipv4_mapped is not None:
        return "an IPv4-mapped address", [address.ipv4_mapped]
    if address in _NAT64:
        return "a NAT64 address", [IPv4Address(int(address) & 0xFFFFFFFF)]
    if address.sixtofour is not None:
        return "a 6to4 address", [address.sixtofour]
    if address.teredo is not None:
        return "a Teredo tunnel address", list(address.teredo)
    compatible = int(address)
    if address in IPv6Network("::/96") and compatible > 1:
        return "an IPv4-compatible address", [IPv4Address(compatible)]
    return None


def _check(address: IPAddress) -> Refusal | None:
    """Why ``address`` is not a public internet address, or None when it is one."""
    if isinstance(address, IPv6Address):
        if address.scope_id:
            return Refusal(reason="a scoped (zone) address", private=False)
        embedded = _embedded(address)
        if embedded is not None:
            form, inner = embedded
            # Only mapped and NAT64 forms reach their IPv4 address as directly as IPv4 would;
            # the deprecated tunnels stay refused even when private networks are allowed.
            direct = address.ipv4_mapped is not None or address in _NAT64
            for ipv4 in inner:
                found = _check(ipv4)
                if found is not None:
                    return Refusal(
                        reason=f"{form} carrying {ipv4}, which is {found.reason}",
                        private=found.private and direct,
                    )
            if direct:
                return None  # the packets go to a public IPv4 address
        ranges: tuple[_Range, ...] = _IPV6
    else:
        ranges = _IPV4
    for row in ranges:
        if address in row.network:
            return Refusal(reason=row.reason, private=row.private)
    if isinstance(address, IPv6Address) and address not in _IPV6_GLOBAL_UNICAST:
        return Refusal(reason="a reserved address (outside 2000::/3)", private=False)
    if not address.is_global:
        return Refusal(reason="not a globally reachable address", private=False)
    return None


def refusal(address: IPAddress | str, *, allow_private: bool = False) -> Refusal | None:
    """Why the fetcher must not connect to ``address``, or None when it may.

    Args:
        address: An address, as an object or a string.
        allow_private: Let loopback, private (RFC 1918, IPv6 unique local), and carrier-grade
            NAT addresses through. Link-local (cloud metadata), multicast, unspecified and
            reserved addresses stay refused whatever this says.

    Returns:
        The refusal, or None when the address may be connected to.
    """
    found = _check(ip_address(address) if isinstance(address, str) else address)
    if found is None or (found.private and allow_private):
        return None
    return found
