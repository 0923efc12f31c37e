"""Host name -> addresses, the one DNS lookup an HTTP fetch makes per hop.

The fetcher resolves a host itself, checks every address, and then connects to a checked one;
the HTTP client never resolves anything, so DNS cannot answer differently between the check
and the connection (DNS rebinding). Tests and applications with their own DNS pass any async
callable of this shape as ``HttpFetcher(resolver=...)``.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from ipaddress import ip_address
from typing import Protocol

import anyio

from ._addresses import IPAddress

__all__ = ["Resolver", "system_resolver"]


class Resolver(Protocol):
    """Looks up the addresses of a host name.

    Any ``async def resolve(host: str) -> list[...]`` conforms. It returns addresses as
    ``ipaddress`` objects or strings, in the order to try them, and raises ``OSError``
    (``socket.gaierror`` for example) when the name does not resolve.
    """

    async def __call__(self, host: str, /) -> Sequence[IPAddress | str]: ...


async def system_resolver(host: str) -> list[IPAddress]:
    """The system's resolver (``getaddrinfo`` in a worker thread), duplicates removed.

    Raises:
        OSError: the name does not resolve.
    """
    infos = await anyio.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    addresses: dict[IPAddress, None] = {}
    for _family, _type, _proto, _name, sockaddr in infos:
        addresses.setdefault(ip_address(sockaddr[0]), None)
    return list(addresses)
