"""PostgresStore against a real PostgreSQL: the schema and its versions, what a bad setup says,
an application's own pool, and a manager running tasks on it, on asyncio and on trio."""

from __future__ import annotations

import asyncio
import json
import socket

import anyio
import pytest

from ffmpeg_tasks import ConfigurationError, InvalidTaskError, TaskManager, TaskStatus
from ffmpeg_tasks.storage import PostgresStore
from ffmpeg_tasks.storage._postgres_schema import SCHEMA_VERSION
from ffmpeg_tasks.testing import FakeFetcher, FakeRunner, FakeUploader

from ..fixtures.postgres import PostgresServer, in_schema

pytestmark = pytest.mark.anyio

URL = "https://media.example/a.mp4"
COMMAND = "-i a.mp4 -c copy out.mp4"


def manager_on(store: PostgresStore, **settings: object) -> TaskManager:
    return TaskManager(
        store,
        FakeFetcher({URL: b"AAAA"}),
        FakeRunner(duration=0.1),
        FakeUploader(),
        **settings,  # type: ignore[arg-type]
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def refused(store: PostgresStore, match: str) -> ConfigurationError:
    """What opening a manager on ``store`` raises; registering fails the same way."""
    manager = manager_on(store)
    with pytest.raises(ConfigurationError, match=match) as raised:
        async with manager:
            pass
    store = PostgresStore(store._dsn or "")
    with pytest.raises(ConfigurationError, match=match):
        await manager_on(store).register(COMMAND, {"a.mp4": URL}, "out.mp4")
    await store.aclose()
    return raised.value


async def test_a_manager_runs_tasks_on_postgresql(postgres: PostgresServer) -> None:
    async with manager_on(PostgresStore(postgres.dsn)) as manager:
        task = await manager.register(COMMAND, {"a.mp4": URL}, "out.mp4", owner="key-1")
        await manager.start(task.id)
        done = await manager.wait(task.id, timeout=10)
        assert done.status is TaskStatus.COMPLETED, done.error
        assert done.attempts == 1
        assert [t.id for t in await manager.list(status="completed", owner="key-1")] == [task.id]
    async with manager_on(PostgresStore(postgres.dsn)) as again:  # another process, later
        assert await again.get(task.id) == done


async def test_an_unreachable_database_is_a_configuration_error(postgres: PostgresServer) -> None:
    dsn = in_schema(f"postgresql://postgres@127.0.0.1:{free_port()}/test", postgres.schema)
    error = await refused(PostgresStore(dsn, timeout=2), "cannot use the task database")
    assert "check that PostgreSQL runs there" in str(error)
    assert "Connection refused" in str(error) or "connection refused" in str(error)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"user": "no_such_role"}, 'role "no_such_role" does not exist'),
        ({"dbname": "no_such_database"}, 'database "no_such_database" does not exist'),
    ],
)
async def test_wrong_credentials_are_a_configuration_error(
    postgres: PostgresServer, change: dict[str, str], match: str
) -> None:
    from psycopg.conninfo import make_conninfo

    error = await refused(PostgresStore(make_conninfo(postgres.dsn, **change)), match)
    assert "the DSN's host, port, user, password and database are right" in str(error)


async def test_a_password_never_shows(postgres: PostgresServer) -> None:
    from psycopg.conninfo import make_conninfo

    dsn = make_conninfo(postgres.dsn, user="no_such_role", password="s3cret-pw")
    store = PostgresStore(dsn)
    error = await refused(store, "no_such_role")
    assert "s3cret-pw" not in str(error)
    assert "s3cret-pw" not in repr(store)


async def test_a_missing_schema_says_to_migrate(postgres: PostgresServer) -> None:
    dsn = in_schema(postgres.base, postgres.new_schema())
    error = await refused(PostgresStore(dsn), "has no ffmpeg-tasks tables")
    assert "ffmpeg-tasks db migrate" in str(error)
    assert await PostgresStore(dsn).migrate() == SCHEMA_VERSION
    async with manager_on(PostgresStore(dsn)) as manager:
        assert await manager.list() == []


@pytest.mark.parametrize(
    ("version", "match"),
    [(SCHEMA_VERSION + 1, "newer than the version .* upgrade ffmpeg-tasks"), (0, "older than")],
)
async def test_a_schema_of_another_version_is_refused(
    postgres: PostgresServer, version: int, match: str
) -> None:
    dsn = in_schema(postgres.base, postgres.new_schema())
    assert await PostgresStore(dsn).migrate() == SCHEMA_VERSION
    postgres.execute(f"UPDATE ffmpeg_tasks_schema SET version = {version}", dsn)
    await refused(PostgresStore(dsn), match)
    if version > SCHEMA_VERSION:
        with pytest.raises(ConfigurationError, match="upgrade ffmpeg-tasks"):
            await PostgresStore(dsn).migrate()


async def test_migrating_is_idempotent_and_safe_from_many_processes(
    postgres: PostgresServer,
) -> None:
    dsn = in_schema(postgres.base, postgres.new_schema())
    versions: list[int] = []

    async def migrate() -> None:
        store = PostgresStore(dsn)
        versions.append(await store.migrate())
        await store.aclose()

    async with anyio.create_task_group() as group:
        for _ in range(4):
            group.start_soon(migrate)
    assert versions == [SCHEMA_VERSION] * 4
    assert await PostgresStore(dsn).migrate() == SCHEMA_VERSION


async def test_no_task_is_lost_while_the_database_is_away(postgres: PostgresServer) -> None:
    """A register that cannot reach the database raises; what was stored stays stored."""
    async with manager_on(PostgresStore(postgres.dsn)) as manager:
        kept = await manager.register(COMMAND, {"a.mp4": URL}, "out.mp4")
    away = in_schema(f"postgresql://postgres@127.0.0.1:{free_port()}/test", postgres.schema)
    with pytest.raises(ConfigurationError, match="cannot use the task database"):
        await manager_on(PostgresStore(away, timeout=1)).register(
            COMMAND, {"a.mp4": URL}, "out.mp4"
        )
    async with manager_on(PostgresStore(postgres.dsn)) as manager:
        assert [t.id for t in await manager.list()] == [kept.id]


async def test_a_nul_character_is_refused_as_invalid(postgres_store: PostgresStore) -> None:
    with pytest.raises(InvalidTaskError, match="cannot store the task"):
        await manager_on(postgres_store).register(
            COMMAND, {"a.mp4": URL}, "out.mp4", owner="key\x00-1"
        )


def test_a_dsn_or_a_pool_and_only_one() -> None:
    with pytest.raises(ConfigurationError, match="needs a dsn or a pool"):
        PostgresStore()
    with pytest.raises(ConfigurationError, match="not a PostgreSQL DSN"):
        PostgresStore("postgresql://[broken")


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_an_applications_own_pool_is_used_and_left_open(postgres: PostgresServer) -> None:
    from psycopg_pool import AsyncConnectionPool

    async with AsyncConnectionPool(postgres.dsn, min_size=1, kwargs={"autocommit": True}) as pool:
        async with manager_on(PostgresStore(pool=pool)) as manager:
            task = await manager.register(COMMAND, {"a.mp4": URL}, "out.mp4")
            assert (await manager.execute(task.id)).status is TaskStatus.COMPLETED
        assert not pool.closed
        async with pool.connection() as connection:
            cursor = await connection.execute("SELECT count(*) FROM ffmpeg_tasks")
            assert await cursor.fetchone() == (1,)


def test_a_store_stays_on_the_asyncio_loop_that_used_it_first(postgres: PostgresServer) -> None:
    store = PostgresStore(postgres.dsn)
    asyncio.run(store.list())
    with pytest.raises(ConfigurationError, match="runs on the asyncio event loop that used it"):
        asyncio.run(store.list())


def test_on_trio_an_applications_pool_is_refused(postgres: PostgresServer) -> None:
    from psycopg_pool import AsyncConnectionPool

    pool = AsyncConnectionPool(postgres.dsn, open=False)
    store = PostgresStore(pool=pool)
    with pytest.raises(ConfigurationError, match="give it a dsn to use it from trio"):
        anyio.run(store.list, backend="trio")


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_closed_store_leaves_no_thread_behind(postgres: PostgresServer, backend: str) -> None:
    """On trio the store's own asyncio thread stops with it."""
    import threading

    before = threading.active_count()

    async def main() -> None:
        store = PostgresStore(postgres.dsn)
        await store.list()
        await store.aclose()

    anyio.run(main, backend=backend)
    assert threading.active_count() <= before


async def test_a_version_1_database_migrates_keeping_its_tasks(postgres: PostgresServer) -> None:
    """Version 2 adds the webhook outbox; the tasks stored before stay as they were."""
    from importlib import resources

    dsn = in_schema(postgres.base, postgres.new_schema())
    first = resources.files("ffmpeg_tasks.storage").joinpath("postgres_schema", "0001_tasks.sql")
    postgres.execute(
        "CREATE TABLE ffmpeg_tasks_schema (version integer NOT NULL, migrated_at timestamptz "
        f"NOT NULL DEFAULT now()); INSERT INTO ffmpeg_tasks_schema (version) VALUES (1); "
        f"{first.read_text()}",
        dsn,
    )
    await refused(PostgresStore(dsn), "older than")
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(
            "INSERT INTO ffmpeg_tasks (id, status, created_at, data) VALUES ('t1', 'pending', "
            "now(), %s::jsonb)",
            (
                json.dumps(
                    {
                        "id": "t1",
                        "command": COMMAND,
                        "input_files": {"a.mp4": URL},
                        "output_filename": "out.mp4",
                        "status": "pending",
                        "created_at": "2024-05-01T00:00:00+00:00",
                    }
                ),
            ),
        )
    assert await PostgresStore(dsn).migrate() == SCHEMA_VERSION == 2
    async with manager_on(PostgresStore(dsn)) as manager:
        done = await manager.execute("t1")
        assert done.status is TaskStatus.COMPLETED
        assert await manager.deliveries("t1") == []
