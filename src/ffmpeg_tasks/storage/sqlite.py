"""A store in one SQLite file: tasks survive restarts and several processes can share them."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread
from anyio.abc import AsyncResource

from .._deliveries import Delivery
from .._errors import (
    ConfigurationError,
    InvalidTaskError,
    InvalidTransitionError,
    TaskNotFoundError,
)
from .._models import Task, TaskStatus
from . import _sqlite_outbox as outbox
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
"""


class SqliteStore(AsyncResource):
    """Keeps tasks in a SQLite database file, one row each.

    The status and owner have columns of their own so that :meth:`update` is one conditional
    ``UPDATE ... WHERE status = ?``: SQLite serialises writers, so when several processes race to
    claim a pending task exactly one wins. Webhook deliveries have a table of their own, made
    when a file that lacks it is opened, and written in the transaction of their change. The
    file uses write-ahead logging so readers never
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
            self._db.executescript(_SCHEMA + outbox.SCHEMA)
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
            with outbox.atomic(db, deliveries):
                if db.execute(query, params).rowcount:
                    outbox.insert(db, deliveries)
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
        return await self._run(
            lambda db: outbox.claim(
                db, now=now, limit=limit, worker=worker, lease_until=lease_until
            ),
            writes=True,
        )

    async def record_attempt(self, delivery: Delivery, *, worker: str) -> bool:
        return await self._run(lambda db: outbox.record(db, delivery, worker=worker), writes=True)

    async def list_deliveries(self, task_ids: Sequence[str]) -> Sequence[Delivery]:
        ids = list(dict.fromkeys(task_ids))
        return await self._run(lambda db: outbox.select(db, ids), writes=False)

    async def requeue_deliveries(self, task_id: str, *, at: datetime) -> Sequence[Delivery]:
        return await self._run(lambda db: outbox.requeue(db, task_id, at=at), writes=True)

    async def aclose(self) -> None:
        """Close the database connection."""

        def close() -> None:
            with self._lock:
                self._db.close()

        await anyio.to_thread.run_sync(close)


def _dump(task: Task) -> str:
    return json.dumps(task.to_dict(), separators=(",", ":"))


def _load(data: str) -> Task:
    return Task.from_dict(json.loads(data))
