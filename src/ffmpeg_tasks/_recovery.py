"""Recovery of interrupted runs, on any host sharing the store.

A running task is interrupted when its worker is certainly a dead process of this host
(:func:`worker_is_gone`, the fast path) or when its lease expired (the general one: its run
stopped renewing it, wherever it ran). It is then failed, or put back to ``pending`` for another
attempt after a backoff, as the manager's ``retries`` say. Retries that are due are started by
any open manager, through its own runs; with a dispatcher, the manager that made the retry hands
it to the dispatcher at once (to start at its time), and any manager hands it again once it is
overdue by a lease (the one that made it may have died before it could).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

import anyio

from ._defaults import MAX_PAGE_SIZE
from ._errors import InvalidTransitionError
from ._local_runs import LocalRuns
from ._models import Task, TaskStatus, utcnow
from ._protocols import Dispatcher, TaskStore
from ._transitions import Transitions, interrupted_error
from ._workers import worker_is_gone

__all__ = ["MAX_RETRY_DELAY", "Recovery"]

logger = logging.getLogger("ffmpeg_tasks")

#: The longest a retry waits, however many attempts came before.
MAX_RETRY_DELAY = 3600.0
#: Slack after a lease's or a retry's time before the pass that handles it, for clock jitter.
_SLACK = 0.05


class Recovery:
    """One manager's recovery passes: on demand (:meth:`recover`) and while it is open.

    Args:
        store: Where the tasks are.
        transitions: How they change.
        runs: This manager's runs, which start due retries while open.
        dispatcher: Where retries go instead, when tasks run in other processes.
        interval: Longest seconds between two passes while open (the heartbeat).
        retries: How many more attempts an interrupted run gets before it is failed.
        retry_backoff: Seconds before the first retry; each further one waits twice as long.
    """

    def __init__(
        self,
        store: TaskStore,
        transitions: Transitions,
        runs: LocalRuns,
        *,
        dispatcher: Dispatcher | None = None,
        interval: float,
        retries: int,
        retry_backoff: float,
    ) -> None:
        self._store = store
        self._transitions = transitions
        self._runs = runs
        self._dispatcher = dispatcher
        self._interval = interval
        self._retries = retries
        self._retry_backoff = retry_backoff
        #: The earliest lease expiry or retry time the last pass saw, to wake for it.
        self._next: datetime | None = None

    async def recover(self) -> Sequence[Task]:
        """Fail or retry the interrupted runs; start due retries when the runs are open.
        Returns the tasks it changed."""
        now = utcnow()
        changed: list[Task] = []
        upcoming: list[datetime] = []
        for task in await self._every(TaskStatus.RUNNING):
            if not _interrupted(task, now):
                if task.lease_expires_at is not None:
                    upcoming.append(task.lease_expires_at)
                continue
            made = max(task.attempts, 1)  # a task stored before attempts were counted ran once
            try:
                if made <= self._retries:
                    at = now + timedelta(seconds=self.delay(made))
                    again = await self._transitions.retry(task, at=at)
                    changed.append(again)
                    upcoming.append(at)
                    await self._dispatch(again, at=at)
                    logger.warning(
                        "task %s: interrupted; attempt %d of %d starts at %s",
                        task.id,
                        made + 1,
                        self._retries + 1,
                        at.isoformat(),
                    )
                else:
                    error = interrupted_error(task)
                    changed.append(await self._transitions.end(task, TaskStatus.FAILED, error))
                    logger.warning("task %s: %s", task.id, error)
            except InvalidTransitionError:
                continue  # another process got there first, or the run went on
        for task in await self._every(TaskStatus.PENDING):
            if task.retry_at is None:
                continue  # its caller starts it
            if task.retry_at > now:
                upcoming.append(task.retry_at)
            elif self._dispatcher is not None:
                if task.retry_at + timedelta(seconds=self._transitions.lease) <= now:
                    await self._dispatch(task, at=None)  # overdue: its job may be lost
            elif self._runs.is_open and not self._runs.is_scheduled(task.id):
                self._runs.start(task.id, retry=True)
        self._next = min(upcoming, default=None)
        return changed

    def delay(self, attempts: int) -> float:
        """Seconds before the retry that follows attempt number ``attempts``."""
        return min(self._retry_backoff * 2.0 ** max(attempts - 1, 0), MAX_RETRY_DELAY)

    async def keep_recovering(self) -> None:
        """Pass every ``interval`` seconds, and as soon as a lease seen expires or a retry seen
        is due, until cancelled. A failed pass (the store unreachable) is logged and retried."""
        while True:
            delay = self._interval
            if self._next is not None:
                until = (self._next - utcnow()).total_seconds() + _SLACK
                delay = max(min(delay, until), _SLACK)
            await anyio.sleep(delay)
            try:
                await self.recover()
            except Exception:
                logger.warning("could not recover interrupted runs", exc_info=True)

    async def _dispatch(self, task: Task, *, at: datetime | None) -> None:
        """Hand a retry to the dispatcher, if there is one; a failure is logged (an overdue
        retry is handed again by a later pass)."""
        if self._dispatcher is None:
            return
        try:
            await self._dispatcher.submit(task, at=at)
        except InvalidTransitionError:
            pass  # waiting in the queue already
        except Exception:
            logger.warning(
                "task %s: could not hand its retry to the workers", task.id, exc_info=True
            )

    async def _every(self, status: TaskStatus) -> list[Task]:
        """All tasks with ``status``, read before any of them is changed (changes move pages)."""
        tasks: list[Task] = []
        while True:
            page = await self._store.list(status=status, limit=MAX_PAGE_SIZE, offset=len(tasks))
            tasks += page
            if len(page) < MAX_PAGE_SIZE:
                return tasks


def _interrupted(task: Task, now: datetime) -> bool:
    if worker_is_gone(task.worker):
        return True
    return task.lease_expires_at is not None and task.lease_expires_at <= now
