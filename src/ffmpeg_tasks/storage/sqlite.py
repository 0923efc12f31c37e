"""A store in one SQLite file: tasks survive restarts and several processes can share them."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread
import attrs
from anyio.abc import AsyncResource

from .._deliveries import Delivery, DeliveryState
from .._errors import (
    ConfigurationError,
    InvalidTaskError,
    InvalidTransitionError,
    TaskNotFoundError,
)
from .._models import Task, TaskStatus
from ._batches import Batcher, Call

__all__ = ["SqliteStore"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ffmpeg_tasks (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    owner TEXT,
    created_at REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ffmpeg_tasks_listing ON ffmpeg_tasks (status, created_at);
CREATE INDEX IF NOT EXISTS ffmpeg_tasks_owner ON ffmpeg_tasks (owner, created_at);
CREATE TABLE IF NOT EXISTS ffmpeg_tasks_deliveries (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL,
    url TEXT NOT NULL,
    task_id TEXT NOT NULL,
    state TEXT NOT NULL,
    next_attempt_at REAL,
    worker TEXT,
    lease_expires_at REAL,
    created_at REAL NOT NULL,
    data TEXT NOT NULL,
    UNIQUE (event_id, url)
);
CREATE INDEX IF NOT EXISTS ffmpeg_tasks_deliveries_due
    ON ffmpeg_tasks_deliveries (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS ffmpeg_tasks_deliveries_task
    ON ffmpeg_tasks_deliveries (task_id, created_at);
"""
#: Ids per ``IN (...)`` list: SQLite before 3.32 takes 999 parameters at most.
_IDS_PER_QUERY = 500
_INSERT_DELIVERY = (
    "INSERT OR IGNORE INTO ffmpeg_tasks_deliveries (event_id, url, task_id, state, "
    "next_attempt_at, worker, lease_expires_at, created_at, data) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SAVE_DELIVERY = (
    "UPDATE ffmpeg_tasks_deliveries SET state = ?, next_attempt_at = ?, worker = ?, "
    "lease_expires_at = ?, data = ? WHERE event_id = ? AND url = ?"
)


class SqliteStore(AsyncResource):
    """Keeps tasks in a SQLite database file, one row each.

    The status and owner have columns of their own so that :meth:`update` is one conditional
    ``UPDATE ... WHERE status = ?``: SQLite serialises writers, so when several processes race to
    claim a pending task exactly one wins. Webhook deliveries have a table of their own, made
    when a file that lacks it is opened, and written in the transaction of their change. The file uses write-ahead logging so readers never
    wait for a writer, with ``synchronous=NORMAL``: a commit survives a crash of the process,
    while a power loss may undo the last commits before a checkpoint. Calls run in a worker
    thread, so the event loop never blocks on disk; concurrent callers' calls share a thread
    hop and, when they write, one transaction (each statement stays atomic on its own).

    Args:
        path: The database file, created when missing; ``":memory:"`` for a private in-memory
            database (tests).
        busy_timeout: Seconds a write waits for another process's write to finish.

    Raises:
        ConfigurationError: the file cannot be opened or is not a database.
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 10.0) -> None:
        self._path = os.fspath(path)
        if self._path != ":memory:":
            Path(self._path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(
                self._path,
                timeout=busy_timeout,
                isolation_level=None,  # autocommit: every statement is its own transaction
                check_same_thread=False,
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            # With WAL, NORMAL syncs at checkpoints, not at every commit: a commit survives the
            # process dying at once, and only a power loss may undo the last few.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise ConfigurationError(
                f"cannot open the task database {self._path!r}: {exc}"
            ) from exc
        self._lock = threading.Lock()  # one connection, used by one worker thread at a time
        self._batcher: Batcher[sqlite3.Connection] = Batcher(
            lambda batch: anyio.to_thread.run_sync(self._execute, batch)
        )

    def __repr__(self) -> str:
        return f"SqliteStore({self._path!r})"

    async def _run(self, function: Callable[[sqlite3.Connection], T], *, writes: bool) -> T:
        return await self._batcher.run(function, writes=writes)

    def _execute(self, batch: Sequence[Call[sqlite3.Connection]]) -> None:
        """Run a batch of calls; several with a write among them in one write transaction."""
        with self._lock:
            db = self._db
            writing = len(batch) > 1 and any(call.writes for call in batch)
            try:
                if writing:
                    db.execute("BEGIN IMMEDIATE")
                for call in batch:
                    try:
                        call.result = call.function(db)
                    except Exception as exc:  # noqa: BLE001 - its caller gets it
                        call.error = exc
                if writing:
                    db.execute("COMMIT")
            except sqlite3.Error as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                for call in batch:
                    call.error = exc

    async def create(self, task: Task) -> None:
        def insert(db: sqlite3.Connection) -> None:
            try:
                db.execute(
                    "INSERT INTO ffmpeg_tasks (id, status, owner, created_at, data) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (
                        task.id,
                        task.status.value,
                        task.owner,
                        task.created_at.timestamp(),
                        _dump(task),
                    ),
                )
            except sqlite3.IntegrityError:
                raise InvalidTaskError(f"a task with id {task.id!r} exists already") from None

        await self._run(insert, writes=True)

    async def get(self, task_id: str) -> Task:
        def select(db: sqlite3.Connection) -> Any:
            return db.execute("SELECT data FROM ffmpeg_tasks WHERE id = ?", (task_id,)).fetchone()

        row = await self._run(select, writes=False)
        if row is None:
            raise TaskNotFoundError(task_id)
        return _load(row[0])

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
            where.append("status = ?")
            params.append(status.value)
        if owner is not None:
            where.append("owner = ?")
            params.append(owner)
        query = (
            "SELECT data FROM ffmpeg_tasks"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY created_at DESC, id LIMIT ? OFFSET ?"
        )

        def select(db: sqlite3.Connection) -> list[Any]:
            return db.execute(query, (*params, limit, offset)).fetchall()

        return [_load(row[0]) for row in await self._run(select, writes=False)]

    async def update(
        self,
        task: Task,
        *,
        expected: TaskStatus,
        expected_worker: str | None = None,
        deliveries: Sequence[Delivery] = (),
    ) -> Task:
        query = (
            "UPDATE ffmpeg_tasks SET status = ?, owner = ?, data = ? WHERE id = ? AND status = ?"
        )
        params: tuple[object, ...] = (
            task.status.value,
            task.owner,
            _dump(task),
            task.id,
            expected.value,
        )
        if expected_worker is not None:
            query += " AND json_extract(data, '$.worker') = ?"
            params += (expected_worker,)

        def compare_and_set(db: sqlite3.Connection) -> str | None:
            with _atomic(db, deliveries):
                if db.execute(query, params).rowcount:
                    db.executemany(_INSERT_DELIVERY, [_delivery_row(d) for d in deliveries])
                    return None
            row = db.execute("SELECT status FROM ffmpeg_tasks WHERE id = ?", (task.id,)).fetchone()
            return "" if row is None else str(row[0])

        current = await self._run(compare_and_set, writes=True)
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
        def select(db: sqlite3.Connection) -> list[Any]:
            return db.execute(
                "SELECT status, count(*) FROM ffmpeg_tasks GROUP BY status"
            ).fetchall()

        return {
            TaskStatus(status): count for status, count in await self._run(select, writes=False)
        }

    async def claim_deliveries(
        self, *, now: datetime, limit: int, worker: str, lease_until: datetime
    ) -> Sequence[Delivery]:
        def claim(db: sqlite3.Connection) -> list[Delivery]:
            with _atomic(db):
                rows = db.execute(
                    "SELECT data FROM ffmpeg_tasks_deliveries WHERE state = ? "
                    "AND next_attempt_at <= ? AND (lease_expires_at IS NULL "
                    "OR lease_expires_at <= ?) ORDER BY next_attempt_at, seq LIMIT ?",
                    (DeliveryState.PENDING.value, now.timestamp(), now.timestamp(), limit),
                ).fetchall()
                leased = [
                    attrs.evolve(
                        Delivery.from_dict(json.loads(row[0])),
                        worker=worker,
                        lease_expires_at=lease_until,
                    )
                    for row in rows
                ]
                db.executemany(_SAVE_DELIVERY, [_saved_row(d) for d in leased])
            return leased

        return await self._run(claim, writes=True)

    async def record_attempt(self, delivery: Delivery, *, worker: str) -> bool:
        def save(db: sqlite3.Connection) -> bool:
            cursor = db.execute(_SAVE_DELIVERY + " AND worker = ?", (*_saved_row(delivery), worker))
            return bool(cursor.rowcount)

        return await self._run(save, writes=True)

    async def list_deliveries(self, task_ids: Sequence[str]) -> Sequence[Delivery]:
        ids = list(dict.fromkeys(task_ids))

        def select(db: sqlite3.Connection) -> list[Any]:
            rows: list[Any] = []
            for start in range(0, len(ids), _IDS_PER_QUERY):
                chunk = ids[start : start + _IDS_PER_QUERY]
                rows += db.execute(
                    "SELECT created_at, seq, data FROM ffmpeg_tasks_deliveries WHERE task_id IN "
                    f"({', '.join('?' * len(chunk))})",
                    chunk,
                ).fetchall()
            return sorted(rows, key=lambda row: (row[0], row[1]))

        return [
            Delivery.from_dict(json.loads(row[2])) for row in await self._run(select, writes=False)
        ]

    async def requeue_deliveries(self, task_id: str, *, at: datetime) -> Sequence[Delivery]:
        def requeue(db: sqlite3.Connection) -> list[Delivery]:
            with _atomic(db):
                rows = db.execute(
                    "SELECT data FROM ffmpeg_tasks_deliveries WHERE task_id = ? "
                    "ORDER BY created_at, seq",
                    (task_id,),
                ).fetchall()
                again = [Delivery.from_dict(json.loads(row[0])).requeued(at) for row in rows]
                db.executemany(_SAVE_DELIVERY, [_saved_row(d) for d in again])
            return again

        return await self._run(requeue, writes=True)

    async def aclose(self) -> None:
        """Close the database connection."""

        def close() -> None:
            with self._lock:
                self._db.close()

        await anyio.to_thread.run_sync(close)


def _dump(task: Task) -> str:
    return json.dumps(task.to_dict(), separators=(",", ":"))


@contextmanager
def _atomic(db: sqlite3.Connection, needed: object = True) -> Iterator[None]:
    """Make the statements of the block one transaction (a savepoint inside a batch's), when
    ``needed``; a write lock is taken at once, so two processes never deadlock on upgrading."""
    if not needed:
        yield
        return
    nested = db.in_transaction
    db.execute("SAVEPOINT ffmpeg_tasks" if nested else "BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK TO ffmpeg_tasks" if nested else "ROLLBACK")
        if nested:
            db.execute("RELEASE ffmpeg_tasks")
        raise
    db.execute("RELEASE ffmpeg_tasks" if nested else "COMMIT")


def _seconds(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _delivery_row(delivery: Delivery) -> tuple[object, ...]:
    return (
        delivery.event_id,
        delivery.url,
        delivery.task_id,
        delivery.state.value,
        _seconds(delivery.next_attempt_at),
        delivery.worker,
        _seconds(delivery.lease_expires_at),
        delivery.created_at.timestamp(),
        delivery.to_json(),
    )


def _saved_row(delivery: Delivery) -> tuple[object, ...]:
    return (
        delivery.state.value,
        _seconds(delivery.next_attempt_at),
        delivery.worker,
        _seconds(delivery.lease_expires_at),
        delivery.to_json(),
        delivery.event_id,
        delivery.url,
    )


def _load(data: str) -> Task:
    return Task.from_dict(json.loads(data))
