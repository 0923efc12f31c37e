"""PLACEHOLDER: the SSRF-safe HTTP fetcher is being written."""

from __future__ import annotations

from pathlib import Path

__all__ = ["HttpFetcher"]


class HttpFetcher:
    def __init__(self, *, allow_private_networks: bool = False) -> None:
        self._allow_private_networks = allow_private_networks

    async def check(self, url: str) -> None:
        raise NotImplementedError

    async def fetch(self, url: str, *, destination: Path) -> int:
        raise NotImplementedError

    async def aclose(self) -> None:
        pass
