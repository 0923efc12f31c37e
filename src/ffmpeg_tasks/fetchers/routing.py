"""One fetcher in front of several, chosen by URL scheme, so a task can mix sources."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from anyio.abc import AsyncResource

from .._errors import ConfigurationError, FetchError, InvalidTaskError
from .._protocols import Fetcher

__all__ = ["RoutingFetcher"]


class RoutingFetcher(AsyncResource):
    """Sends each URL to the fetcher registered for its scheme.

    Example::

        http = HttpFetcher()
        s3 = S3Fetcher(["my-inputs"])  # the buckets inputs may come from
        fetcher = RoutingFetcher({"http": http, "https": http, "s3": s3})

    Args:
        routes: Scheme (lower case, without ``:``) -> the fetcher for it. One fetcher may serve
            several schemes; each is closed once.

    Raises:
        ConfigurationError: no routes, or a scheme that is not a plain lower-case word.
    """

    def __init__(self, routes: Mapping[str, Fetcher]) -> None:
        if not routes:
            raise ConfigurationError("RoutingFetcher needs at least one scheme -> fetcher route")
        for scheme in routes:
            if not scheme.isascii() or not scheme.isalnum() or scheme != scheme.lower():
                raise ConfigurationError(
                    f"scheme {scheme!r} must be lower-case letters/digits, no ':'"
                )
        self._routes = dict(routes)

    def __repr__(self) -> str:
        return f"RoutingFetcher({self._routes!r})"

    @property
    def schemes(self) -> frozenset[str]:
        """The schemes this fetcher accepts."""
        return frozenset(self._routes)

    def _route(self, url: str, error: type[Exception]) -> Fetcher:
        try:
            scheme = urlsplit(url).scheme.lower() if isinstance(url, str) else ""
        except ValueError:  # "http://[::1" and the like
            raise error(f"URL {url!r} is not a valid URL") from None
        try:
            return self._routes[scheme]
        except KeyError:
            allowed = ", ".join(f"{s}://" for s in sorted(self._routes))
            raise error(f"URL {url!r} is not supported here; use one of {allowed}") from None

    async def check(self, url: str) -> None:
        await self._route(url, InvalidTaskError).check(url)

    async def fetch(self, url: str, *, destination: Path) -> int:
        return await self._route(url, FetchError).fetch(url, destination=destination)

    async def aclose(self) -> None:
        closed: set[int] = set()
        for fetcher in self._routes.values():
            if id(fetcher) not in closed:
                closed.add(id(fetcher))
                await fetcher.aclose()
