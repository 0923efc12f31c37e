"""The webhook outbox of :class:`SqliteStore`: its table (made in any file that lacks it) and
its statements, each run in the store's worker thread on its one connection."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

import attrs

from .._deliveries import Delivery, DeliveryState

__all__ = ["SCHEMA", "atomic", "claim", "insert", "record", "requeue", "select"]

SCHEMA = """
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
_INSERT = (
    "INSERT OR IGNORE INTO ffmpeg_tasks_deliveries (event_id, url, task_id, state, "
    "next_attempt_at, worker, lease_expires_at, created_at, data) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_SAVE = (
    "UPDATE ffmpeg_tasks_deliveries SET state = ?, next_attempt_at = ?, worker = ?, "
    "lease_expires_at = ?, data = ? WHERE event_id = ? AND url = ?"
)
_DUE = (
    "FROM ffmpeg_tasks_deliveries WHERE state = ? AND next_attempt_at <= ? "
    "AND (lease_expires_at IS NULL OR lease_expires_at <= ?)"
)


@contextmanager
def atomic(db: sqlite3.Connection, needed: object = True) -> Iterator[None]:
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


def insert(db: sqlite3.Connection, deliveries: Sequence[Delivery]) -> None:
    """Add deliveries (inside the caller's transaction); one stored already stays as it is."""
    db.executemany(_INSERT, [_row(delivery) for delivery in deliveries])


def claim(
    db: sqlite3.Connection, *, now: datetime, limit: int, worker: str, lease_until: datetime
) -> list[Delivery]:
    """Lease due deliveries; the write lock is taken only when some are due, so an idle
    outbox costs a read per look."""
    due = (DeliveryState.PENDING.value, now.timestamp(), now.timestamp())
    if db.execute(f"SELECT 1 {_DUE} LIMIT 1", due).fetchone() is None:
        return []
    with atomic(db):
        rows = db.execute(
            f"SELECT data {_DUE} ORDER BY next_attempt_at, seq LIMIT ?", (*due, limit)
        ).fetchall()
        leased = [
            attrs.evolve(_load(row[0]), worker=worker, lease_expires_at=lease_until) for row in rows
        ]
        db.executemany(_SAVE, [_saved(delivery) for delivery in leased])
    return leased


def record(db: sqlite3.Connection, delivery: Delivery, *, worker: str) -> bool:
    """Store an attempt's outcome if ``worker`` still holds the lease."""
    return bool(db.execute(_SAVE + " AND worker = ?", (*_saved(delivery), worker)).rowcount)


def select(db: sqlite3.Connection, task_ids: Sequence[str]) -> list[Delivery]:
    """The deliveries of these tasks, in the order their events happened."""
    rows: list[tuple[float, int, str]] = []
    for start in range(0, len(task_ids), _IDS_PER_QUERY):
        chunk = list(task_ids[start : start + _IDS_PER_QUERY])
        rows += db.execute(
            "SELECT created_at, seq, data FROM ffmpeg_tasks_deliveries WHERE task_id IN "
            f"({', '.join('?' * len(chunk))})",
            chunk,
        ).fetchall()
    return [_load(row[2]) for row in sorted(rows, key=lambda row: (row[0], row[1]))]


def requeue(db: sqlite3.Connection, task_id: str, *, at: datetime) -> list[Delivery]:
    """Every delivery of the task pending again from ``at``."""
    with atomic(db):
        rows = db.execute(
            "SELECT data FROM ffmpeg_tasks_deliveries WHERE task_id = ? ORDER BY created_at, seq",
            (task_id,),
        ).fetchall()
        again = [_load(row[0]).requeued(at) for row in rows]
        db.executemany(_SAVE, [_saved(delivery) for delivery in again])
    return again


def _load(data: str) -> Delivery:
    return Delivery.from_dict(json.loads(data))


def _seconds(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _row(delivery: Delivery) -> tuple[object, ...]:
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


def _saved(delivery: Delivery) -> tuple[object, ...]:
    return (
        delivery.state.value,
        _seconds(delivery.next_attempt_at),
        delivery.worker,
        _seconds(delivery.lease_expires_at),
        delivery.to_json(),
        delivery.event_id,
        delivery.url,
    )
