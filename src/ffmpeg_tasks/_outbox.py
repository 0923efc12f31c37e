"""Delivering the outbox: the webhook deliveries kept in the task store, by an open manager.

An open manager with webhook settings leases due deliveries from the store (a process that
dies mid-attempt loses its lease, and any other process takes the delivery over), attempts
them at most ``max_concurrency`` at once, and records each outcome: 2xx delivered, 410 gone
(the receiver wants no more), anything else retried on the schedule, with jitter, until the
schedule is spent (failed). Runs never wait for any of it.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from datetime import datetime, timedelta

import anyio
import anyio.abc
import attrs

from ._deliveries import Delivery, DeliveryState
from ._models import utcnow
from ._protocols import TaskStore
from ._telemetry import Telemetry
from ._tracing import set_attributes
from ._webhook_sender import Attempt, WebhookSender
from ._webhook_settings import WebhookSettings
from ._workers import this_worker

__all__ = ["LEASE_SLACK", "Outbox", "after_attempt", "outcome"]

logger = logging.getLogger("ffmpeg_tasks")

#: Seconds a lease outlives the attempt's own timeout, for a slow store write after it.
LEASE_SLACK = 30.0


def after_attempt(
    delivery: Delivery,
    attempt: Attempt,
    *,
    at: datetime,
    schedule: Sequence[float],
    jitter: float,
    rng: random.Random,
) -> Delivery:
    """``delivery`` once ``attempt`` was made at ``at``: delivered, gone, failed, or pending
    until its next try on ``schedule`` (each delay +-``jitter`` of itself), lease released."""
    tries = delivery.tries + 1
    done = attrs.evolve(
        delivery,
        attempts=delivery.attempts + 1,
        tries=tries,
        last_attempt_at=at,
        last_status=attempt.status,
        last_error=attempt.error,
        next_attempt_at=None,
        worker=None,
        lease_expires_at=None,
    )
    if attempt.delivered:
        return attrs.evolve(done, state=DeliveryState.DELIVERED, delivered_at=at)
    if attempt.status == 410:
        return attrs.evolve(done, state=DeliveryState.GONE)
    if tries > len(schedule):
        return attrs.evolve(done, state=DeliveryState.FAILED)
    delay = schedule[tries - 1] * (1 + rng.uniform(-jitter, jitter))
    return attrs.evolve(done, next_attempt_at=at + timedelta(seconds=delay))


def outcome(delivery: Delivery) -> str:
    """The metrics' name of how an attempt left ``delivery``."""
    if delivery.state is DeliveryState.PENDING:
        return "retrying"
    return delivery.state.value


class Outbox:
    """One manager's delivery of the outbox.

    Args:
        store: Where the deliveries are.
        sender: Makes the attempts.
        settings: Schedule, concurrency and poll interval.
        telemetry: Spans and metrics of each attempt.
    """

    def __init__(
        self,
        store: TaskStore,
        sender: WebhookSender,
        settings: WebhookSettings,
        *,
        telemetry: Telemetry,
    ) -> None:
        self._store = store
        self._sender = sender
        self._settings = settings
        self._telemetry = telemetry
        #: The lease holder of this manager's attempts.
        self._worker = this_worker()
        self._rng = random.Random()
        self._in_flight = 0
        self._wakeup: anyio.Event | None = None
        #: The earliest retry this manager scheduled, to wake for it.
        self._soonest: datetime | None = None

    def wake(self) -> None:
        """New deliveries were stored, or a slot came free: look now."""
        if self._wakeup is not None:
            self._wakeup.set()

    async def keep_delivering(self) -> None:
        """Lease and attempt due deliveries until cancelled; a failing store is logged and
        tried again at the next look."""
        async with anyio.create_task_group() as group:
            while True:
                self._wakeup = anyio.Event()
                if self._soonest is not None and self._soonest <= utcnow():
                    self._soonest = None  # due: this claim takes it
                free = self._settings.max_concurrency - self._in_flight
                if free > 0:
                    for delivery in await self._claim(free):
                        self._in_flight += 1
                        group.start_soon(self._attempt_and_free, delivery)
                with anyio.move_on_after(self._until_next_look()):
                    await self._wakeup.wait()

    async def deliver_due(self) -> int:
        """Attempt every delivery due now, ``max_concurrency`` at once, and return how many
        were attempted (for scripts and tests; an open manager does this by itself)."""
        attempted = 0
        while batch := await self._claim(self._settings.max_concurrency):
            async with anyio.create_task_group() as group:
                for delivery in batch:
                    group.start_soon(self._attempt, delivery)
            attempted += len(batch)
        return attempted

    async def redeliver(self, task_id: str) -> Sequence[Delivery]:
        """Queue every event of the task again, due now (same ids, a new attempt)."""
        again = await self._store.requeue_deliveries(task_id, at=utcnow())
        self.wake()
        return again

    def _until_next_look(self) -> float:
        """Seconds to the next look: the poll interval, or sooner for a retry made here."""
        if self._soonest is None:
            return self._settings.poll_interval
        left = (self._soonest - utcnow()).total_seconds()
        return min(self._settings.poll_interval, max(left, 0.0))

    async def _claim(self, limit: int) -> Sequence[Delivery]:
        now = utcnow()
        until = now + timedelta(seconds=self._settings.timeout + LEASE_SLACK)
        try:
            return await self._store.claim_deliveries(
                now=now, limit=limit, worker=self._worker, lease_until=until
            )
        except Exception:
            logger.warning("could not read the webhook outbox", exc_info=True)
            return ()

    async def _attempt_and_free(self, delivery: Delivery) -> None:
        try:
            await self._attempt(delivery)
        finally:
            self._in_flight -= 1
            self.wake()

    async def _attempt(self, delivery: Delivery) -> None:
        started = time.monotonic()
        try:
            with self._telemetry.delivery(delivery) as current:
                attempt = await self._sender.send(delivery)
                set_attributes(current, {"http.response.status_code": attempt.status or 0})
        except BaseException:
            # Stopped mid-attempt (the manager closing): release the lease, so that the next
            # manager tries again at once; the receiver may see this attempt twice.
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                released = attrs.evolve(delivery, worker=None, lease_expires_at=None)
                await self._record(released)
            self._telemetry.webhook_attempt("interrupted", time.monotonic() - started)
            raise
        done = after_attempt(
            delivery,
            attempt,
            at=utcnow(),
            schedule=self._settings.retry_schedule,
            jitter=self._settings.jitter,
            rng=self._rng,
        )
        self._telemetry.webhook_attempt(outcome(done), time.monotonic() - started)
        if done.next_attempt_at is not None and (
            self._soonest is None or done.next_attempt_at < self._soonest
        ):
            self._soonest = done.next_attempt_at
        if done.state is not DeliveryState.DELIVERED:
            logger.info(
                "task %s: webhook %s to %s: %s (%s)",
                delivery.task_id,
                delivery.event_type,
                delivery.url.split("?", 1)[0],
                attempt.error,
                outcome(done),
            )
        await self._record(done)

    async def _record(self, delivery: Delivery) -> None:
        try:
            kept = await self._store.record_attempt(delivery, worker=self._worker)
        except Exception:
            logger.warning(
                "task %s: could not record a webhook attempt", delivery.task_id, exc_info=True
            )
            return
        if not kept:
            logger.info(
                "task %s: webhook %s was re-queued or taken over meanwhile",
                delivery.task_id,
                delivery.event_id,
            )
