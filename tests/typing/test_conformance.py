"""Every adapter satisfies its port.

Adapters do not inherit from the Protocols. mypy (strict, run on tests/) proves the annotated
assignments below, so a signature drift in an adapter fails type checking here; at run time each
test also checks that every method of the port exists on the adapter and is a coroutine function
with the same parameter names. Every adapter is also an anyio ``AsyncResource``: ``async with``
comes from that one base and closes it.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from anyio.abc import AsyncResource

from ffmpeg_tasks import Dispatcher, Fetcher, Runner, TaskManager, TaskStore, Uploader
from ffmpeg_tasks._local_runs import LocalRuns
from ffmpeg_tasks.fetchers import HttpFetcher, LocalFetcher, RoutingFetcher, S3Fetcher
from ffmpeg_tasks.integrations.procrastinate import ProcrastinateDispatcher
from ffmpeg_tasks.runners import SubprocessRunner
from ffmpeg_tasks.storage import MemoryStore, PostgresStore, SqliteStore
from ffmpeg_tasks.testing import FakeDispatcher, FakeFetcher, FakeRunner, FakeUploader
from ffmpeg_tasks.uploaders import LocalUploader, S3Uploader


def assert_implements(adapter: object, port: type) -> None:
    methods = [name for name, _ in inspect.getmembers(port, inspect.iscoroutinefunction)]
    assert methods, port
    for name in methods:
        implementation = getattr(adapter, name)
        assert inspect.iscoroutinefunction(implementation), f"{adapter!r}.{name} is not async"
        wanted = list(inspect.signature(getattr(port, name)).parameters)[1:]  # without self
        assert list(inspect.signature(implementation).parameters) == wanted, (adapter, name)


def test_stores_conform() -> None:
    stores: list[TaskStore] = [
        MemoryStore(),
        SqliteStore(":memory:"),
        PostgresStore("postgresql://localhost/tasks"),  # connects on first use only
    ]
    for store in stores:
        assert_implements(store, TaskStore)


def test_fetchers_conform(tmp_path: Path) -> None:
    http = HttpFetcher()
    fetchers: list[Fetcher] = [
        http,
        LocalFetcher([tmp_path]),
        RoutingFetcher({"http": http, "https": http}),
        S3Fetcher(["media-in"]),
        FakeFetcher(),
    ]
    for fetcher in fetchers:
        assert_implements(fetcher, Fetcher)


def test_runners_conform() -> None:
    runners: list[Runner] = [SubprocessRunner(), FakeRunner()]
    for runner in runners:
        assert_implements(runner, Runner)


def test_uploaders_conform(tmp_path: Path) -> None:
    uploaders: list[Uploader] = [LocalUploader(tmp_path), S3Uploader("outputs"), FakeUploader()]
    for uploader in uploaders:
        assert_implements(uploader, Uploader)


def test_dispatchers_conform() -> None:
    dispatchers: list[Dispatcher] = [
        FakeDispatcher(),
        ProcrastinateDispatcher("postgresql://localhost/tasks"),  # connects on first use only
    ]
    for dispatcher in dispatchers:
        assert_implements(dispatcher, Dispatcher)
    # The in-process default, which a manager builds for itself (mypy checks in_process):
    manager = TaskManager(MemoryStore(), FakeFetcher(), FakeRunner(), FakeUploader())
    assert_implements(manager._runs, Dispatcher)


def in_process(runs: LocalRuns) -> Dispatcher:
    return runs


def every_adapter(tmp_path: Path) -> list[AsyncResource]:
    http = HttpFetcher()
    return [
        MemoryStore(),
        SqliteStore(":memory:"),
        PostgresStore("postgresql://localhost/tasks"),
        http,
        LocalFetcher([tmp_path]),
        RoutingFetcher({"http": http, "https": http}),
        S3Fetcher(["media-in"]),
        SubprocessRunner(),
        LocalUploader(tmp_path),
        S3Uploader("outputs"),
        FakeFetcher(),
        FakeRunner(),
        FakeUploader(),
        FakeDispatcher(),
        ProcrastinateDispatcher("postgresql://localhost/tasks"),
    ]


def test_async_with_comes_from_one_base(tmp_path: Path) -> None:
    for adapter in every_adapter(tmp_path):
        owners = [cls for cls in type(adapter).__mro__ if "__aexit__" in vars(cls)]
        assert owners == [AsyncResource], (adapter, owners)


@pytest.mark.anyio
async def test_async_with_returns_the_adapter(tmp_path: Path) -> None:
    for adapter in every_adapter(tmp_path):
        async with adapter as entered:
            assert entered is adapter
