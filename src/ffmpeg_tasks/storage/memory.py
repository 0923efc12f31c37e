"""An in-process store: the default, and the reference the contract tests hold other stores to."""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from collections.abc import Mapping, Sequence
from datetime import datetime

import attrs
from anyio.abc import AsyncResource

from .._checks import check_positive_int
from .._deliveries import Delivery, DeliveryState
from .._errors import InvalidTaskError, InvalidTransitionError, TaskNotFoundError
from .._models import Task, TaskStatus

__all__ = ["MemoryStore"]

#: How many finished tasks a MemoryStore keeps by default.
DEFAULT_MAX_FINISHED = 10_000


class MemoryStore(AsyncResource):
    """Keeps tasks in a dict. Safe to share between tasks and threads; lost when the process ends.

    Every method runs without awaiting inside its critical section, and a lock covers callers on
    other threads (two managers on two event loops sharing one store).

    Memory is bounded by forgetting the oldest finished tasks: a service that runs for months
    must not keep every task it ever ran (a persistent store such as ``SqliteStore`` keeps
    them all). Pending and running tasks are never dropped. A task's webhook deliveries are
    forgotten with it.

    Args:
        max_finished: How many completed, failed or cancelled tasks to keep; beyond it the one
            that finished first is forgotten (``get`` then raises ``TaskNotFoundError``).
            None keeps them all.

    Raises:
        ConfigurationError: ``max_finished`` is not an integer of at least 1 or None.
    """

    def __init__(self, *, max_finished: int | None = DEFAULT_MAX_FINISHED) -> None:
        if max_finished is not None:
            check_positive_int(max_finished, "max_finished")
        self._tasks: dict[str, Task] = {}
        #: Ids of finished tasks, the first to finish first.
        self._finished: OrderedDict[str, None] = OrderedDict()
        self._max_finished = max_finished
        #: Task id -> its deliveries by (event id, URL), in the order their events happened.
        self._deliveries: dict[str, dict[tuple[str, str], Delivery]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryStore(tasks={len(self._tasks)}, max_finished={self._max_finished})"

    async def create(self, task: Task) -> None:
        with self._lock:
            if task.id in self._tasks:
                raise InvalidTaskError(f"a task with id {task.id!r} exists already")
            self._tasks[task.id] = task
            if task.status.is_terminal:
                self._forget_the_oldest_finished(task.id)

    async def get(self, task_id: str) -> Task:
        with self._lock:
            try:
                return self._tasks[task_id]
            except KeyError:
                raise TaskNotFoundError(task_id) from None

    async def list(
        self,
        *,
        status: TaskStatus | None = None,
        owner: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Sequence[Task]:
        with self._lock:
            tasks = [
                task
                for task in self._tasks.values()
                if (status is None or task.status is status)
                and (owner is None or task.owner == owner)
            ]
        tasks.sort(key=lambda task: task.created_at, reverse=True)
        return tasks[offset : offset + limit]

    async def update(
        self,
        task: Task,
        *,
        expected: TaskStatus,
        expected_worker: str | None = None,
        deliveries: Sequence[Delivery] = (),
    ) -> Task:
        with self._lock:
            current = self._tasks.get(task.id)
            if current is None:
                raise TaskNotFoundError(task.id)
            if current.status is not expected:
                raise InvalidTransitionError(
                    f"task {task.id!r} is {current.status.value}, not {expected.value}",
                    task_id=task.id,
                    status=current.status.value,
                )
            if expected_worker is not None and current.worker != expected_worker:
                raise InvalidTransitionError(
                    f"task {task.id!r} is claimed by another worker",
                    task_id=task.id,
                    status=current.status.value,
                )
            self._tasks[task.id] = task
            for delivery in deliveries:
                queued = self._deliveries.setdefault(delivery.task_id, {})
                queued.setdefault((delivery.event_id, delivery.url), delivery)
            if task.status.is_terminal:
                self._forget_the_oldest_finished(task.id)
            return task

    async def counts(self) -> Mapping[TaskStatus, int]:
        with self._lock:
            return Counter(task.status for task in self._tasks.values())

    async def claim_deliveries(
        self, *, now: datetime, limit: int, worker: str, lease_until: datetime
    ) -> Sequence[Delivery]:
        with self._lock:
            due = [
                delivery
                for queued in self._deliveries.values()
                for delivery in queued.values()
                if delivery.state is DeliveryState.PENDING
                and delivery.next_attempt_at is not None
                and delivery.next_attempt_at <= now
                and (delivery.lease_expires_at is None or delivery.lease_expires_at <= now)
            ]
            due.sort(key=lambda delivery: delivery.next_attempt_at or now)
            leased = [
                attrs.evolve(delivery, worker=worker, lease_expires_at=lease_until)
                for delivery in due[:limit]
            ]
            for delivery in leased:
                self._deliveries[delivery.task_id][delivery.event_id, delivery.url] = delivery
            return leased

    async def record_attempt(self, delivery: Delivery, *, worker: str) -> bool:
        with self._lock:
            queued = self._deliveries.get(delivery.task_id, {})
            current = queued.get((delivery.event_id, delivery.url))
            if current is None or current.worker != worker:
                return False
            queued[delivery.event_id, delivery.url] = delivery
            return True

    async def list_deliveries(self, task_ids: Sequence[str]) -> Sequence[Delivery]:
        with self._lock:
            found = [d for task_id in task_ids for d in self._deliveries.get(task_id, {}).values()]
        return sorted(found, key=lambda delivery: delivery.created_at)

    async def requeue_deliveries(self, task_id: str, *, at: datetime) -> Sequence[Delivery]:
        with self._lock:
            queued = self._deliveries.get(task_id, {})
            for key, delivery in queued.items():
                queued[key] = delivery.requeued(at)
            found = list(queued.values())
        return sorted(found, key=lambda delivery: delivery.created_at)

    def _forget_the_oldest_finished(self, task_id: str) -> None:
        self._finished[task_id] = None
        if self._max_finished is None:
            return
        while len(self._finished) > self._max_finished:
            oldest, _ = self._finished.popitem(last=False)
            del self._tasks[oldest]
            self._deliveries.pop(oldest, None)

    async def aclose(self) -> None:
        """Nothing to release; present so every store closes the same way."""
