"""A store in PostgreSQL: tasks shared by many processes on many machines.

Needs the ``postgres`` extra (psycopg 3 with psycopg-pool), imported on first use.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.to_thread
from anyio.abc import AsyncResource
from anyio.from_thread import BlockingPortal, start_blocking_portal

from .._deliveries import Delivery
from .._errors import (
    ConfigurationError,
    InvalidTaskError,
    InvalidTransitionError,
    TaskNotFoundError,
)
from .._models import Task, TaskStatus
from . import _postgres_outbox as outbox
from ._postgres_schema import check_schema, migrate_schema

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

__all__ = ["PostgresStore"]

T = TypeVar("T")

_INSERT = (
    "INSERT INTO ffmpeg_tasks (id, status, owner, worker, created_at, data) "
    "VALUES (%s, %s, %s, %s, %s, %s::jsonb)"
)
_UPDATE = (
    "UPDATE ffmpeg_tasks SET status = %s, owner = %s, worker = %s, data = %s::jsonb "
    "WHERE id = %s AND status = %s"
)


class PostgresStore(AsyncResource):
    """Keeps tasks in PostgreSQL, one row each, through a pool of connections.

    Every state change is one conditional ``UPDATE ... WHERE id = ... AND status = ...
    [AND worker = ...]``: PostgreSQL locks the row, so of two processes racing to claim a
    pending task exactly one wins, and a run that lost its claim never writes over a newer
    attempt. The webhook deliveries a change makes are inserted in its transaction. The tables must exist first: :meth:`migrate` (or ``ffmpeg-tasks db migrate``)
    creates them; the store checks their version when it connects, on first use.

    psycopg's async API runs on asyncio only. Used from asyncio, the pool lives on the event
    loop that uses the store first; used from trio, the store runs its own asyncio loop in a
    thread, and every call goes there (a thread hop each). Tables are made in, and found through,
    the connection's ``search_path``: ``?options=-csearch_path%3Dmyschema`` in the DSN keeps
    them in a schema of their own.

    Args:
        dsn: ``postgresql://user:password@host:port/database`` or a libpq ``key=value``
            string. Give this or ``pool``.
        pool: An ``psycopg_pool.AsyncConnectionPool`` of the application's, already open; the
            store neither opens nor closes it, and is then used from that pool's event loop.
        min_size: Connections the store's own pool keeps open.
        max_size: The most connections it opens.
        timeout: Seconds to wait for a connection (connecting, or a free one in the pool).

    Raises:
        ConfigurationError: both or neither of ``dsn`` and ``pool``, or the ``postgres``
            extra is not installed.
    """

    def __init__(
        self,
        dsn: str | None = None,
        *,
        pool: AsyncConnectionPool[Any] | None = None,
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 10.0,
    ) -> None:
        if (dsn is None) == (pool is None):
            raise ConfigurationError("PostgresStore needs a dsn or a pool, and only one of them")
        _require_psycopg()
        self._dsn = dsn
        self._pool = pool
        self._own_pool = pool is None
        self._min_size, self._max_size, self._timeout = min_size, max_size, timeout
        self._where = describe_dsn(dsn) if dsn is not None else "(the application's pool)"
        #: The asyncio loop the pool lives on, once a call chose it.
        self._loop: asyncio.AbstractEventLoop | None = None
        #: Opening the pool (connect, check the schema), shared by the first callers.
        self._ready: asyncio.Future[AsyncConnectionPool[Any]] | None = None
        #: The store's own asyncio loop in a thread, when trio uses it.
        self._portal: BlockingPortal | None = None
        self._portal_context: AbstractContextManager[BlockingPortal] | None = None
        self._portal_lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"PostgresStore({self._where!r})"

    # -- the port ------------------------------------------------------------------------------

    async def create(self, task: Task) -> None:
        params = (task.id, task.status.value, task.owner, task.worker, task.created_at, _dump(task))

        async def insert(connection: AsyncConnection[Any]) -> None:
            from psycopg import errors

            try:
                await connection.execute(_INSERT, params)
            except errors.UniqueViolation:
                raise InvalidTaskError(f"a task with id {task.id!r} exists already") from None

        await self._call(insert)

    async def get(self, task_id: str) -> Task:
        async def select(connection: AsyncConnection[Any]) -> Any:
            cursor = await connection.execute(
                "SELECT data FROM ffmpeg_tasks WHERE id = %s", (task_id,)
            )
            return await cursor.fetchone()

        row = await self._call(select)
        if row is None:
            raise TaskNotFoundError(task_id)
        return Task.from_dict(row[0])

    async def list(
        self,
        *,
        status: TaskStatus | None = None,
        owner: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Sequence[Task]:
        where, params = [], []
        if status is not None:
            where.append("status = %s")
            params.append(status.value)
        if owner is not None:
            where.append("owner = %s")
            params.append(owner)
        query = (
            "SELECT data FROM ffmpeg_tasks"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY created_at DESC, id LIMIT %s OFFSET %s"
        )

        async def select(connection: AsyncConnection[Any]) -> list[Any]:
            cursor = await connection.execute(query, (*params, limit, offset))
            return await cursor.fetchall()

        return [Task.from_dict(row[0]) for row in await self._call(select)]

    async def update(
        self,
        task: Task,
        *,
        expected: TaskStatus,
        expected_worker: str | None = None,
        deliveries: Sequence[Delivery] = (),
    ) -> Task:
        query = _UPDATE
        params: tuple[object, ...] = (
            task.status.value,
            task.owner,
            task.worker,
            _dump(task),
            task.id,
            expected.value,
        )
        if expected_worker is not None:
            query += " AND worker = %s"
            params += (expected_worker,)

        async def compare_and_set(connection: AsyncConnection[Any]) -> str | None:
            if deliveries:
                async with connection.transaction():
                    cursor = await connection.execute(query, params)
                    if cursor.rowcount:
                        await outbox.insert(connection, deliveries)
                        return None
            else:
                cursor = await connection.execute(query, params)
                if cursor.rowcount:
                    return None
            cursor = await connection.execute(
                "SELECT status FROM ffmpeg_tasks WHERE id = %s", (task.id,)
            )
            row = await cursor.fetchone()
            return "" if row is None else str(row[0])

        current = await self._call(compare_and_set)
        if current is None:
            return task
        if current == "":
            raise TaskNotFoundError(task.id)
        if current != expected.value:
            message = f"task {task.id!r} is {current}, not {expected.value}"
        else:
            message = f"task {task.id!r} is claimed by another worker"
        raise InvalidTransitionError(message, task_id=task.id, status=current)

    async def counts(self) -> Mapping[TaskStatus, int]:
        async def select(connection: AsyncConnection[Any]) -> list[Any]:
            cursor = await connection.execute(
                "SELECT status, count(*) FROM ffmpeg_tasks GROUP BY status"
            )
            return await cursor.fetchall()

        return {TaskStatus(status): int(count) for status, count in await self._call(select)}

    async def claim_deliveries(
        self, *, now: datetime, limit: int, worker: str, lease_until: datetime
    ) -> Sequence[Delivery]:
        return await self._call(
            lambda connection: outbox.claim(
                connection, now=now, limit=limit, worker=worker, lease_until=lease_until
            )
        )

    async def record_attempt(self, delivery: Delivery, *, worker: str) -> bool:
        return await self._call(
            lambda connection: outbox.record(connection, delivery, worker=worker)
        )

    async def list_deliveries(self, task_ids: Sequence[str]) -> Sequence[Delivery]:
        ids = list(dict.fromkeys(task_ids))
        if not ids:
            return []
        return await self._call(lambda connection: outbox.select(connection, ids))

    async def requeue_deliveries(self, task_id: str, *, at: datetime) -> Sequence[Delivery]:
        return await self._call(lambda connection: outbox.requeue(connection, task_id, at=at))

    async def aclose(self) -> None:
        """Close the store's own pool (never the application's) and its thread, if any."""
        if self._closed:
            return
        self._closed = True
        with anyio.CancelScope(shield=True):
            if self._portal is not None:
                await anyio.to_thread.run_sync(self._stop_portal)
            elif self._ready is not None and self._own_pool and _on(self._loop):
                ready, self._ready = self._ready, None
                if ready.done() and ready.exception() is None:
                    await ready.result().close()

    # -- the schema ----------------------------------------------------------------------------

    async def migrate(self) -> int:
        """Create or upgrade the tables to the version this code needs; returns that version.

        Idempotent, and safe to run from several processes at once (they take turns).

        Raises:
            ConfigurationError: the database is unreachable, refuses the credentials, or has
                a schema newer than this code.
        """

        async def migrate(connection: AsyncConnection[Any]) -> int:
            return await migrate_schema(connection)

        return await self._route(lambda: self._with_new_connection(migrate, autocommit=False))

    # -- where calls run ---------------------------------------------------------------------

    async def _call(self, operation: Callable[[AsyncConnection[Any]], Awaitable[T]]) -> T:
        return await self._route(lambda: self._with_pool(operation))

    async def _route(self, function: Callable[[], Awaitable[T]]) -> T:
        """Run ``function`` on the loop the pool lives on."""
        if self._closed:
            raise ConfigurationError(f"{self!r} is closed")
        loop = _running_asyncio_loop()
        if loop is not None and self._portal is None:
            if self._loop is None:
                self._loop = loop
            if self._loop is loop:
                return await _translated(function, self._where)
        if self._loop is not None and self._portal is None:
            raise ConfigurationError(
                f"{self!r} runs on the asyncio event loop that used it first; use it from that "
                "loop only (or give each event loop a PostgresStore of its own)"
            )
        if not self._own_pool:
            raise ConfigurationError(
                "a PostgresStore built on an AsyncConnectionPool works on that pool's asyncio "
                "event loop only; give it a dsn to use it from trio"
            )
        portal = self._portal_or_start()
        return await anyio.to_thread.run_sync(
            portal.call, lambda: _translated(function, self._where)
        )

    def _portal_or_start(self) -> BlockingPortal:
        with self._portal_lock:
            if self._portal is None:
                self._portal_context = start_blocking_portal("asyncio")
                self._portal = self._portal_context.__enter__()
            return self._portal

    def _stop_portal(self) -> None:
        assert self._portal is not None
        assert self._portal_context is not None
        try:
            if self._ready is not None and self._ready.done() and not self._ready.exception():
                self._portal.call(self._ready.result().close)
        finally:
            self._portal_context.__exit__(None, None, None)

    async def _with_pool(self, operation: Callable[[AsyncConnection[Any]], Awaitable[T]]) -> T:
        if self._ready is None:
            self._ready = asyncio.ensure_future(self._open())
        ready = self._ready
        try:
            pool = await asyncio.shield(ready)
        except BaseException:
            if ready.done() and self._ready is ready:
                self._ready = None  # a failed open is tried again by the next call
            raise
        async with pool.connection() as connection:
            return await operation(connection)

    async def _open(self) -> AsyncConnectionPool[Any]:
        if self._pool is not None:
            async with self._pool.connection() as connection:
                await check_schema(connection, self._where)
            return self._pool

        async def check(connection: AsyncConnection[Any]) -> None:
            await check_schema(connection, self._where)

        await self._with_new_connection(check, autocommit=True)
        from psycopg_pool import AsyncConnectionPool

        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            self._dsn or "",
            min_size=self._min_size,
            max_size=self._max_size,
            timeout=self._timeout,
            kwargs={"autocommit": True},
            open=False,
        )
        await pool.open(wait=True, timeout=self._timeout)
        return pool

    async def _with_new_connection(
        self, operation: Callable[[AsyncConnection[Any]], Awaitable[T]], *, autocommit: bool
    ) -> T:
        from psycopg import AsyncConnection

        if self._dsn is None:
            assert self._pool is not None
            async with self._pool.connection() as pooled:
                return await operation(pooled)
        connection = await AsyncConnection.connect(
            self._dsn, autocommit=autocommit, connect_timeout=max(1, round(self._timeout))
        )
        async with connection:
            return await operation(connection)


async def _translated(function: Callable[[], Awaitable[T]], where: str) -> T:
    """``function``'s result, psycopg's errors turned into ours."""
    import psycopg
    from psycopg_pool import PoolTimeout

    try:
        return await function()
    except PoolTimeout as exc:
        raise ConfigurationError(
            f"no connection to the task database {where} came free in time ({exc}); check that "
            "PostgreSQL runs and accepts connections, or give the store a larger max_size"
        ) from exc
    except psycopg.OperationalError as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ConfigurationError(
            f"cannot use the task database {where}: {reason}; check that PostgreSQL runs "
            "there and that the DSN's host, port, user, password and database are right"
        ) from exc
    except psycopg.DataError as exc:  # a NUL character, which PostgreSQL text cannot hold
        reason = " ".join(str(exc).split())
        raise InvalidTaskError(
            f"the task database {where} cannot store the task: {reason}"
        ) from exc
    except psycopg.errors.InvalidSchemaName as exc:
        raise ConfigurationError(
            f"the task database {where} has no schema to make tables in: create the schema "
            "its search_path names (CREATE SCHEMA ...), or fix search_path in the DSN"
        ) from exc
    except psycopg.errors.UndefinedTable as exc:
        raise ConfigurationError(
            f"the task database {where} has no ffmpeg-tasks tables: run `ffmpeg-tasks db "
            "migrate` or `await PostgresStore(...).migrate()`"
        ) from exc
    except psycopg.Error as exc:
        raise ConfigurationError(f"the task database {where} failed: {exc}") from exc


def _running_asyncio_loop() -> asyncio.AbstractEventLoop | None:
    """The caller's asyncio loop; None on trio."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _on(loop: asyncio.AbstractEventLoop | None) -> bool:
    return loop is not None and _running_asyncio_loop() is loop


def describe_dsn(dsn: str) -> str:
    """``user@host:port/database`` of a DSN, never its password.

    Raises:
        ConfigurationError: not a DSN libpq understands.
    """
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(dsn)
    except ProgrammingError as exc:
        raise ConfigurationError(f"not a PostgreSQL DSN: {exc}") from None
    user = f"{parts['user']}@" if parts.get("user") else ""
    host = parts.get("host") or "localhost"
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"{user}{host}{port}/{parts.get('dbname') or ''}"


def _require_psycopg() -> None:
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError as exc:
        raise ConfigurationError(
            f"PostgresStore needs the 'postgres' extra ({exc.name or exc} is missing): "
            'pip install "ffmpeg-tasks[postgres]"'
        ) from exc


def _dump(task: Task) -> str:
    return json.dumps(task.to_dict(), separators=(",", ":"))
