"""The store contract, run against every store."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import anyio.lowlevel
import attrs
import pytest

from ffmpeg_tasks import (
    ConfigurationError,
    InvalidTaskError,
    InvalidTransitionError,
    Task,
    TaskNotFoundError,
    TaskStatus,
    TaskStore,
)
from ffmpeg_tasks.storage import MemoryStore, PostgresStore, SqliteStore

from ..fixtures.postgres import PostgresServer
from .store_contract import OutboxContract, StoreContract, make_task, running_with


class TestMemoryStore(StoreContract, OutboxContract):
    @pytest.fixture
    async def store(self) -> AsyncIterator[MemoryStore]:
        store = MemoryStore()
        yield store
        await store.aclose()

    @pytest.mark.anyio
    async def test_only_the_newest_finished_tasks_are_kept(self) -> None:
        """Memory stays bounded in a long-running service; unfinished tasks are never dropped."""
        store = MemoryStore(max_finished=2)
        pending = make_task()
        await store.create(pending)
        finished = []
        for _ in range(3):
            task = make_task()
            await store.create(task)
            running = attrs.evolve(task, status=TaskStatus.RUNNING)
            await store.update(running, expected=TaskStatus.PENDING)
            await store.update(
                attrs.evolve(running, status=TaskStatus.COMPLETED), expected=TaskStatus.RUNNING
            )
            finished.append(task.id)
        with pytest.raises(TaskNotFoundError):
            await store.get(finished[0])  # the first to finish is forgotten
        assert [t.id for t in await store.list(status=TaskStatus.COMPLETED)] == finished[:0:-1]
        assert await store.get(pending.id) == pending
        assert "max_finished=2" in repr(store)

    @pytest.mark.parametrize("value", [0, -1, True, 1.5])
    def test_max_finished_is_checked(self, value: object) -> None:
        with pytest.raises(
            ConfigurationError, match="max_finished must be an integer of at least 1"
        ):
            MemoryStore(max_finished=value)  # type: ignore[arg-type]


class TestSqliteStore(StoreContract, OutboxContract):
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


class TestPostgresStore(StoreContract, OutboxContract):
    """On asyncio the pool lives on the test's loop; on trio in the store's own thread."""

    @pytest.fixture
    async def store(self, postgres_store: PostgresStore) -> PostgresStore:
        return postgres_store

    @pytest.mark.anyio
    async def test_two_pools_race_and_one_claim_wins(self, postgres: PostgresServer) -> None:
        """Two stores stand for two processes sharing the database."""
        stores = [PostgresStore(postgres.dsn, min_size=2) for _ in range(2)]
        task = make_task()
        await stores[0].create(task)
        winners: list[int] = []

        async def claim(index: int) -> None:
            running = attrs.evolve(task, status=TaskStatus.RUNNING, worker=f"w#{index}")
            try:
                await stores[index % 2].update(running, expected=TaskStatus.PENDING)
            except InvalidTransitionError:
                return
            winners.append(index)

        async with anyio.create_task_group() as group:
            for index in range(10):
                group.start_soon(claim, index)
        assert len(winners) == 1
        assert (await stores[1].get(task.id)).worker == f"w#{winners[0]}"
        for store in stores:
            await store.aclose()

    @pytest.mark.anyio
    async def test_the_columns_repeat_the_task(
        self, postgres_store: PostgresStore, postgres: PostgresServer
    ) -> None:
        task = make_task(owner="key-1")
        await postgres_store.create(task)
        running = attrs.evolve(task, status=TaskStatus.RUNNING, worker="w#1")
        await postgres_store.update(running, expected=TaskStatus.PENDING)
        import psycopg

        with psycopg.connect(postgres.dsn) as connection:
            row = connection.execute(
                "SELECT status, owner, worker, created_at, data->>'id' FROM ffmpeg_tasks"
            ).fetchone()
        assert row == ("running", "key-1", "w#1", task.created_at, task.id)


class TestSqliteBatches:
    """Concurrent callers share thread hops and transactions; each call keeps its own
    outcome."""

    @pytest.mark.anyio
    async def test_one_failing_call_in_a_batch_fails_alone(self, tmp_path: Path) -> None:
        store = SqliteStore(tmp_path / "tasks.db")
        taken = make_task()
        await store.create(taken)
        tasks = [make_task() for _ in range(30)]
        outcomes: dict[str, str] = {}

        async def create(task: Task) -> None:
            try:
                await store.create(task)
                outcomes[task.id] = "stored"
            except InvalidTaskError:
                outcomes[task.id] = "refused"

        async with anyio.create_task_group() as group:
            for task in [*tasks[:15], taken, *tasks[15:]]:
                group.start_soon(create, task)
        assert outcomes == {taken.id: "refused", **{t.id: "stored" for t in tasks}}
        assert len(await store.list()) == 31
        await store.aclose()

    @pytest.mark.anyio
    async def test_a_caller_cancelled_after_queueing_sees_its_write_done(
        self, tmp_path: Path
    ) -> None:
        store = SqliteStore(tmp_path / "tasks.db")
        tasks = [make_task() for _ in range(10)]
        async with anyio.create_task_group() as group:
            for task in tasks:
                group.start_soon(store.create, task)
            await anyio.lowlevel.checkpoint()  # every create is queued or in flight
            group.cancel_scope.cancel()
        assert {t.id for t in await store.list()} == {t.id for t in tasks}
        await store.aclose()


class TestOutboxAcrossConnections:
    """Two stores on one database stand for two processes delivering from one outbox."""

    async def _race(self, stores: list[TaskStore]) -> None:
        _, queued = await running_with(stores[0], *[-1] * 10)
        now = datetime.now(UTC)
        leased: list[str] = []

        async def claim(index: int) -> None:
            claimed = await stores[index % 2].claim_deliveries(
                now=now, limit=3, worker=f"s#{index}", lease_until=now + timedelta(seconds=30)
            )
            leased.extend(d.event_id for d in claimed)

        async with anyio.create_task_group() as group:
            for index in range(8):
                group.start_soon(claim, index)
        assert sorted(leased) == sorted(d.event_id for d in queued)
        for store in stores:
            await store.aclose()

    @pytest.mark.anyio
    async def test_sqlite(self, tmp_path: Path) -> None:
        await self._race([SqliteStore(tmp_path / "tasks.db") for _ in range(2)])

    @pytest.mark.anyio
    async def test_postgres(self, postgres: PostgresServer) -> None:
        await self._race([PostgresStore(postgres.dsn, min_size=2) for _ in range(2)])

    @pytest.mark.anyio
    async def test_a_sqlite_file_made_before_the_outbox_gets_it(self, tmp_path: Path) -> None:
        import sqlite3

        path = tmp_path / "old.db"
        with sqlite3.connect(path) as db:
            db.execute(
                "CREATE TABLE ffmpeg_tasks (id TEXT PRIMARY KEY, status TEXT NOT NULL, "
                "owner TEXT, created_at REAL NOT NULL, data TEXT NOT NULL)"
            )
            task = make_task()
            db.execute(
                "INSERT INTO ffmpeg_tasks VALUES (?, ?, NULL, ?, ?)",
                (task.id, "pending", task.created_at.timestamp(), json.dumps(task.to_dict())),
            )
        db.close()
        store = SqliteStore(path)
        assert await store.get(task.id) == task
        assert await store.list_deliveries([task.id]) == []
        running, queued = await running_with(store, 0)
        assert await store.list_deliveries([running.id]) == queued
        await store.aclose()
