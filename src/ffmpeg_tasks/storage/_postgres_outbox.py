"""The webhook outbox of :class:`PostgresStore` (schema version 2): its statements, each run on
a connection of the store's pool, in a transaction where it reads and then writes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from .._deliveries import Delivery, DeliveryState

if TYPE_CHECKING:
    from psycopg import AsyncConnection

__all__ = ["claim", "insert", "record", "requeue", "select"]

_INSERT = (
    "INSERT INTO ffmpeg_tasks_deliveries (event_id, url, task_id, state, next_attempt_at, "
    "worker, lease_expires_at, created_at, data) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, "
    "%s::jsonb) ON CONFLICT (event_id, url) DO NOTHING"
)
_SAVE = (
    "UPDATE ffmpeg_tasks_deliveries SET state = %s, next_attempt_at = %s, worker = %s, "
    "lease_expires_at = %s, data = %s::jsonb WHERE event_id = %s AND url = %s"
)


async def insert(connection: AsyncConnection[Any], deliveries: Sequence[Delivery]) -> None:
    """Add deliveries (inside the caller's transaction); one stored already stays as it is."""
    async with connection.cursor() as cursor:
        await cursor.executemany(_INSERT, [_row(delivery) for delivery in deliveries])


async def claim(
    connection: AsyncConnection[Any],
    *,
    now: datetime,
    limit: int,
    worker: str,
    lease_until: datetime,
) -> list[Delivery]:
    """Lease due deliveries; rows another transaction is leasing are skipped, not waited for."""
    async with connection.transaction():
        cursor = await connection.execute(
            "SELECT data FROM ffmpeg_tasks_deliveries WHERE state = %s "
            "AND next_attempt_at <= %s AND (lease_expires_at IS NULL "
            "OR lease_expires_at <= %s) ORDER BY next_attempt_at, seq LIMIT %s "
            "FOR UPDATE SKIP LOCKED",
            (DeliveryState.PENDING.value, now, now, limit),
        )
        leased = [
            attrs.evolve(Delivery.from_dict(row[0]), worker=worker, lease_expires_at=lease_until)
            for row in await cursor.fetchall()
        ]
        await _save(connection, leased)
    return leased


async def record(connection: AsyncConnection[Any], delivery: Delivery, *, worker: str) -> bool:
    """Store an attempt's outcome if ``worker`` still holds the lease."""
    cursor = await connection.execute(_SAVE + " AND worker = %s", (*_saved(delivery), worker))
    return bool(cursor.rowcount)


async def select(connection: AsyncConnection[Any], task_ids: Sequence[str]) -> list[Delivery]:
    """The deliveries of these tasks, in the order their events happened."""
    cursor = await connection.execute(
        "SELECT data FROM ffmpeg_tasks_deliveries WHERE task_id = ANY(%s) ORDER BY created_at, seq",
        (list(task_ids),),
    )
    return [Delivery.from_dict(row[0]) for row in await cursor.fetchall()]


async def requeue(
    connection: AsyncConnection[Any], task_id: str, *, at: datetime
) -> list[Delivery]:
    """Every delivery of the task pending again from ``at``."""
    async with connection.transaction():
        cursor = await connection.execute(
            "SELECT data FROM ffmpeg_tasks_deliveries WHERE task_id = %s "
            "ORDER BY created_at, seq FOR UPDATE",
            (task_id,),
        )
        again = [Delivery.from_dict(row[0]).requeued(at) for row in await cursor.fetchall()]
        await _save(connection, again)
    return again


async def _save(connection: AsyncConnection[Any], deliveries: Sequence[Delivery]) -> None:
    if deliveries:
        async with connection.cursor() as cursor:
            await cursor.executemany(_SAVE, [_saved(delivery) for delivery in deliveries])


def _row(delivery: Delivery) -> tuple[object, ...]:
    return (
        delivery.event_id,
        delivery.url,
        delivery.task_id,
        delivery.state.value,
        delivery.next_attempt_at,
        delivery.worker,
        delivery.lease_expires_at,
        delivery.created_at,
        delivery.to_json(),
    )


def _saved(delivery: Delivery) -> tuple[object, ...]:
    return (
        delivery.state.value,
        delivery.next_attempt_at,
        delivery.worker,
        delivery.lease_expires_at,
        delivery.to_json(),
        delivery.event_id,
        delivery.url,
    )
