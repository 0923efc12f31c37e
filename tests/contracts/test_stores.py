"""The store contract, run against every store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import attrs
import pytest

from ffmpeg_tasks import ConfigurationError, InvalidTransitionError, TaskStatus
from ffmpeg_tasks.storage import MemoryStore, SqliteStore

from .store_contract import StoreContract, make_task


class TestMemoryStore(StoreContract):
    @pytest.fixture
    async def store(self) -> AsyncIterator[MemoryStore]:
        store = MemoryStore()
        yield store
        await store.aclose()


class TestSqliteStore(StoreContract):
    @pytest.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[SqliteStore]:
        store = SqliteStore(tmp_path / "tasks.db")
        yield store
        await store.aclose()

    @pytest.mark.anyio
    async def test_tasks_survive_reopening(self, tmp_path: Path) -> None:
        task = make_task()
        first = SqliteStore(tmp_path / "tasks.db")
        await first.create(task)
        await first.aclose()
        second = SqliteStore(tmp_path / "tasks.db")
        assert await second.get(task.id) == task
        await second.aclose()

    @pytest.mark.anyio
    async def test_two_connections_race_and_one_claim_wins(self, tmp_path: Path) -> None:
        """Two stores on one file stand for two processes sharing it."""
        stores = [SqliteStore(tmp_path / "tasks.db") for _ in range(2)]
        task = make_task()
        await stores[0].create(task)
        winners: list[int] = []

        async def claim(index: int) -> None:
            running = attrs.evolve(task, status=TaskStatus.RUNNING, owner=str(index))
            try:
                await stores[index % 2].update(running, expected=TaskStatus.PENDING)
            except InvalidTransitionError:
                return
            winners.append(index)

        async with anyio.create_task_group() as group:
            for index in range(10):
                group.start_soon(claim, index)
        assert len(winners) == 1
        assert (await stores[1].get(task.id)).owner == str(winners[0])
        for store in stores:
            await store.aclose()

    def test_a_file_that_is_not_a_database_is_a_configuration_error(self, tmp_path: Path) -> None:
        path = tmp_path / "junk.db"
        path.write_bytes(b"not a database" * 100)
        with pytest.raises(ConfigurationError, match="cannot open the task database"):
            SqliteStore(path)
