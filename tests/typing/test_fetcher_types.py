"""mypy proves the fetchers conform to the Fetcher port, and plain functions to Resolver."""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address
from pathlib import Path

from ffmpeg_tasks import Fetcher
from ffmpeg_tasks.fetchers import HttpFetcher, LocalFetcher, RoutingFetcher
from ffmpeg_tasks.fetchers.http import Resolver, system_resolver
from ffmpeg_tasks.testing import FakeFetcher


async def resolve_to_strings(host: str) -> list[str]:
    return ["192.0.2.1"]


async def resolve_to_addresses(host: str) -> Sequence[IPv4Address]:
    return [IPv4Address("192.0.2.1")]


def test_every_fetcher_is_a_fetcher(tmp_path: Path) -> None:
    http = HttpFetcher()
    fetchers: list[Fetcher] = [
        http,
        LocalFetcher([tmp_path]),
        RoutingFetcher({"http": http, "https": http}),
        FakeFetcher(),
    ]
    assert len({type(fetcher) for fetcher in fetchers}) == 4


def test_functions_are_resolvers() -> None:
    resolvers: list[Resolver] = [system_resolver, resolve_to_strings, resolve_to_addresses]
    fetchers = [HttpFetcher(resolver=resolver) for resolver in resolvers]
    assert len(fetchers) == 3
