"""Every change of a task's state in the store, and the notice that tells waiters about it.

Each change is a compare-and-set on the status (``TaskStore.update(expected=...)``), and every
write of a run also on its claim (``expected_worker``), so a task is claimed by one run at most,
ends once, and a run that lost its claim never writes over a newer attempt, even when several
processes share the store. A change that tells something (started, progress, an end) is stored
with its webhook deliveries and then published to this process's subscribers (``_events``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

import attrs

from ._changes import ChangeFeed
from ._defaults import DEFAULT_LEASE
from ._errors import InvalidTransitionError, TaskNotFoundError
from ._events import EventType, TaskEvents, ending
from ._models import Output, Task, TaskPhase, TaskStatus, utcnow
from ._protocols import TaskStore

__all__ = ["INTERRUPTED", "Transitions", "interrupted_error"]

logger = logging.getLogger("ffmpeg_tasks")

#: The error of a task whose run was interrupted (its process died, its lease expired).
INTERRUPTED = (
    "interrupted: the service running it stopped before it finished; register it again to retry"
)


def interrupted_error(task: Task) -> str:
    """:data:`INTERRUPTED`, saying how many attempts there were when there was more than one."""
    if task.attempts <= 1:
        return INTERRUPTED
    return INTERRUPTED.replace("finished;", f"finished ({task.attempts} attempts);")


class Transitions:
    """Claims, progress, endings and recovery of tasks in one store.

    Args:
        store: Where task state lives.
        changes: Woken on every change this process makes.
        lease: Seconds a claim holds without being renewed.
        events: What the changes tell (webhooks, subscribers); nothing when None.
    """

    def __init__(
        self,
        store: TaskStore,
        changes: ChangeFeed,
        *,
        lease: float = DEFAULT_LEASE,
        events: TaskEvents | None = None,
    ):
        self._store = store
        self._changes = changes
        self._lease = timedelta(seconds=lease)
        self._events = events if events is not None else TaskEvents()

    @property
    def lease(self) -> float:
        """Seconds a claim holds without being renewed."""
        return self._lease.total_seconds()

    async def claim(self, task_id: str, *, worker: str) -> Task:
        """Mark a pending task ``running`` by ``worker`` (a fresh :func:`this_worker`, so the
        caller can tell its own claim even when it never learns whether the write landed),
        counting the attempt and starting its lease.

        Raises:
            TaskNotFoundError: no task has that id.
            InvalidTransitionError: the task is no longer pending (cancelled, or claimed by
                another run), or it waits for the time of its retry.
        """
        task = await self._store.get(task_id)
        now = utcnow()
        if task.status is TaskStatus.PENDING and task.retry_at is not None and task.retry_at > now:
            raise InvalidTransitionError(
                f"task {task_id!r} waits to be retried at {task.retry_at.isoformat()}; "
                "an open manager sharing the store starts it then",
                task_id=task_id,
                status=task.status.value,
            )
        claim = attrs.evolve(
            task,
            status=TaskStatus.RUNNING,
            phase=TaskPhase.FETCHING,
            started_at=now,
            worker=worker,
            attempts=task.attempts + 1,
            lease_expires_at=now + self._lease,
            retry_at=None,
        )
        await self._write(claim, EventType.STARTED, expected=TaskStatus.PENDING)
        self._changes.publish(task_id)
        return claim

    async def save_running(self, task: Task, *, publish: bool = True) -> bool:
        """Store a running task's new phase or progress and renew its lease; False if its
        claim no longer holds it (cancelled, recovered or claimed again elsewhere), and then
        nothing was stored. ``publish=False`` for a renewal alone, which no waiter needs."""
        renewed = attrs.evolve(task, lease_expires_at=utcnow() + self._lease)
        try:
            await self._write(
                renewed,
                EventType.PROGRESS if publish else None,
                expected=TaskStatus.RUNNING,
                expected_worker=task.worker,
            )
        except (InvalidTransitionError, TaskNotFoundError):
            return False
        if publish:
            self._changes.publish(task.id)
        return True

    async def holds(self, task: Task) -> bool:
        """Whether the stored task is still ``running`` by the claim of ``task``."""
        try:
            current = await self._store.get(task.id)
        except TaskNotFoundError:
            return False
        return current.status is TaskStatus.RUNNING and current.worker == task.worker

    async def finish(
        self,
        task_id: str,
        status: TaskStatus,
        error: str | None,
        *,
        worker: str | None,
        outputs: Sequence[Output],
        log: str | None,
    ) -> Task:
        """Store the end of a run of this process by claim ``worker``; returns the task as it
        ended. A task cancelled from another process meanwhile stays cancelled, a task that
        another attempt holds stays with it: either is returned as stored.
        """
        current = await self._store.get(task_id)
        completed = status is TaskStatus.COMPLETED
        final = attrs.evolve(
            current,
            status=status,
            phase=None,
            error=error,
            log=log,
            outputs=tuple(outputs) if completed else (),
            progress=1.0 if completed else current.progress,
            overall_progress=1.0 if completed else current.overall_progress,
            eta=None,
            lease_expires_at=None,
            finished_at=utcnow(),
        )
        try:
            await self._write(
                final, ending(status), expected=TaskStatus.RUNNING, expected_worker=worker
            )
        except InvalidTransitionError:
            final = await self._store.get(task_id)
        self._changes.publish(task_id)
        return final

    async def current(self, task_id: str) -> Task:
        """The task as stored now."""
        return await self._store.get(task_id)

    async def end(self, task: Task, status: TaskStatus, error: str) -> Task:
        """Store the end of a task no run of this process will finish: a cancel, a run that
        never started, an interrupted run. Conditional on the status and claim ``task`` was
        read with.

        Raises:
            InvalidTransitionError: the task changed meanwhile.
        """
        ended = attrs.evolve(
            task,
            status=status,
            phase=None,
            error=error,
            eta=None,
            lease_expires_at=None,
            retry_at=None,
            finished_at=utcnow(),
        )
        await self._write(ended, ending(status), expected=task.status, expected_worker=task.worker)
        self._changes.publish(task.id)
        return ended

    async def retry(self, task: Task, *, at: datetime) -> Task:
        """Put an interrupted run's task back to ``pending``, to be started again at ``at``.
        Conditional on the claim ``task`` was read with.

        Raises:
            InvalidTransitionError: the task changed meanwhile.
        """
        again = attrs.evolve(
            task,
            status=TaskStatus.PENDING,
            phase=None,
            progress=None,
            overall_progress=None,
            speed=None,
            eta=None,
            outputs=(),
            error=None,
            log=None,
            started_at=None,
            lease_expires_at=None,
            retry_at=at,
        )
        await self._store.update(again, expected=TaskStatus.RUNNING, expected_worker=task.worker)
        self._changes.publish(task.id)
        return again

    async def _write(
        self,
        task: Task,
        event_type: EventType | None,
        *,
        expected: TaskStatus,
        expected_worker: str | None = None,
    ) -> None:
        """Store ``task`` with the deliveries of its event, then publish the event."""
        prepared = self._events.prepare(task, event_type)
        await self._store.update(
            task,
            expected=expected,
            expected_worker=expected_worker,
            deliveries=() if prepared is None else prepared.deliveries,
        )
        self._events.publish(prepared)

    async def cancel_unstarted(
        self, task_id: str, *, worker: str, reason: str, keep_pending: bool = False
    ) -> None:
        """End ``cancelled`` a run stopped before it began, so that nothing is left ``pending``
        or ``running`` with no run to finish it.

        ``worker`` is what the run's claim stored or was storing: a task running by it is
        ours to end. With ``keep_pending`` (a retry, which any open manager may run) the task
        is left, or put back, ``pending`` instead, its claim undone.
        """
        try:
            task = await self._store.get(task_id)
            ours = task.status is TaskStatus.RUNNING and task.worker == worker
            if keep_pending:
                if ours:
                    await self.retry(attrs.evolve(task, attempts=task.attempts - 1), at=utcnow())
            elif task.status is TaskStatus.PENDING or ours:
                await self.end(task, TaskStatus.CANCELLED, f"cancelled before it started: {reason}")
            # else: run by another process, or ended already
        except InvalidTransitionError:
            return  # another process took it meanwhile: it runs there
        except Exception:
            logger.warning("task %s: could not record its cancellation", task_id, exc_info=True)
