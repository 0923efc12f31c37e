"""Requests to a URL a stranger named, sent to an address checked first (SSRF rules).

Shared by the HTTP fetcher (inputs) and the webhook sender (callbacks): the URL is parsed with
the same rules, its host resolved once by us and every address checked (:mod:`._addresses`),
and the request goes to the checked address with the real name in ``Host`` and in TLS SNI, so
DNS has no second chance to answer differently (DNS rebinding).
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from ipaddress import IPv4Address, IPv6Address, ip_address

import anyio
import httpx

from .._errors import FfmpegTasksError
from ._addresses import IPAddress, ip_literal, refusal
from ._resolver import Resolver

__all__ = ["checked_addresses", "parse_http_url", "pinned_request"]


def parse_http_url(url: object, error: type[FfmpegTasksError], *, label: str) -> httpx.URL:
    """``url`` parsed, if it is an ``http(s)`` URL with a host and without credentials.

    Raises:
        error: the message, starting with ``label``, says which rule the URL breaks.
    """
    if not isinstance(url, str):
        raise error(f"{label.split(' ', 1)[0]} URLs must be strings, got {type(url).__name__}")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise error(f"{label} is not a valid URL: {exc}") from None
    if parsed.scheme not in {"http", "https"}:
        raise error(f"{label} must use http or https, not {parsed.scheme or 'no scheme'!r}")
    if parsed.userinfo:
        raise error(
            f"{label} must not hold a user name or password; credentials in URLs are "
            "refused (the application can send headers instead)"
        )
    if not parsed.raw_host:
        raise error(f"{label} has no host")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise error(f"{label} has an invalid port {parsed.port}")
    return parsed


async def checked_addresses(
    parsed: httpx.URL,
    error: type[FfmpegTasksError],
    *,
    label: str,
    resolver: Resolver,
    timeout: float,
    allow_private: bool,
    allow_hint: str,
    done: str = "fetched",
    transient: type[FfmpegTasksError] | None = None,
) -> list[IPAddress]:
    """The checked addresses of the URL's host, in the order to try them.

    Args:
        parsed: From :func:`parse_http_url`.
        error: Raised for a refused or unresolvable host.
        label: How messages name the URL.
        resolver: Host name -> addresses.
        timeout: Seconds the lookup may take.
        allow_private: Let loopback and private addresses through (see :func:`refusal`).
        allow_hint: How an application lets private addresses through, for the message.
        done: What happens to public addresses ("fetched", "called"), for the message.
        transient: Raised instead of ``error`` for a lookup worth trying again.

    Raises:
        error: the host is malformed, does not resolve, or has a refused address.
    """
    host = parsed.raw_host.decode("ascii")
    try:
        literal = ip_literal(host)
    except ValueError as exc:
        raise error(f"{label}: {exc}") from None
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        try:
            with anyio.fail_after(timeout):
                found = await resolver(host)
        except TimeoutError as exc:
            raise (transient or error)(
                f"{label}: host {host!r} did not resolve within {timeout:g} s"
            ) from exc
        except OSError as exc:
            again = isinstance(exc, socket.gaierror) and exc.errno == socket.EAI_AGAIN
            raise (transient if again and transient else error)(
                f"{label}: cannot resolve host {host!r}: {exc.strerror or exc}"
            ) from exc
        try:
            addresses = [
                item if isinstance(item, IPv4Address | IPv6Address) else ip_address(item)
                for item in found
            ]
        except ValueError as exc:
            raise error(f"{label}: the resolver answered a non-address: {exc}") from exc
        if not addresses:
            raise error(f"{label}: host {host!r} has no addresses")
    for address in addresses:
        refused = refusal(address, allow_private=allow_private)
        if refused is not None:
            how = "names" if literal is not None else "has a host that resolves to"
            hint = f" ({allow_hint})" if refused.private else ""
            raise error(
                f"{label} {how} {address}, which is {refused.reason}; only public "
                f"internet addresses are {done}{hint}"
            )
    return addresses


def pinned_request(
    client: httpx.AsyncClient,
    method: str,
    url: httpx.URL,
    address: IPAddress,
    *,
    headers: Mapping[str, str],
    content: bytes | None = None,
) -> httpx.Request:
    """A request sent to ``address`` that names the real host in Host and in TLS SNI."""
    extensions: dict[str, str] = {}
    host = url.raw_host.decode("ascii")
    if url.scheme == "https" and ":" not in host and host != str(address):
        # httpcore verifies the certificate against this name, not the IP in the URL.
        extensions["sni_hostname"] = host.removesuffix(".")
    pinned = url.copy_with(host=str(address), fragment=None)
    return client.build_request(
        method,
        pinned,
        headers={"Host": url.netloc.decode("ascii"), **headers},
        content=content,
        extensions=extensions,
    )
