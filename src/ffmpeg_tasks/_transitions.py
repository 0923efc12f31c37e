"""Every change of a task's state in the store, and the notice that tells waiters about it.

Each change is a compare-and-set on the status (``TaskStore.update(expected=...)``), so a task
is claimed by one run at most and ends once, even when several processes share the store.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import attrs

from ._changes import ChangeFeed
from ._defaults import MAX_PAGE_SIZE
from ._errors import InvalidTransitionError
from ._models import Output, Task, TaskPhase, TaskStatus, utcnow
from ._protocols import TaskStore
from ._workers import worker_is_gone

__all__ = ["INTERRUPTED", "Transitions"]

logger = logging.getLogger("ffmpeg_tasks")

#: The error of a task whose process died while running it.
INTERRUPTED = (
    "interrupted: the service running it stopped before it finished; register it again to retry"
)


class Transitions:
    """Claims, progress, endings and recovery of tasks in one store.

    Args:
        store: Where task state lives.
        changes: Woken on every change this process makes.
    """

    def __init__(self, store: TaskStore, changes: ChangeFeed) -> None:
        self._store = store
        self._changes = changes

    async def claim(self, task_id: str, *, worker: str) -> Task:
        """Mark a pending task ``running`` by ``worker`` (a fresh :func:`this_worker`, so the
        caller can tell its own claim even when it never learns whether the write landed).

        Raises:
            TaskNotFoundError: no task has that id.
            InvalidTransitionError: the task is no longer pending (cancelled, or claimed by
                another run).
        """
        task = await self._store.get(task_id)
        claim = attrs.evolve(
            task,
            status=TaskStatus.RUNNING,
            phase=TaskPhase.FETCHING,
            started_at=utcnow(),
            worker=worker,
        )
        await self._store.update(claim, expected=TaskStatus.PENDING)
        self._changes.publish(task_id)
        return claim

    async def save_running(self, task: Task) -> bool:
        """Store a running task's new phase or progress; False if it is no longer running
        (cancelled from elsewhere), and then nothing was stored."""
        try:
            await self._store.update(task, expected=TaskStatus.RUNNING)
        except InvalidTransitionError:
            return False
        self._changes.publish(task.id)
        return True

    async def is_running(self, task_id: str) -> bool:
        """Whether the stored task is still ``running`` (another process may have ended it)."""
        return (await self._store.get(task_id)).status is TaskStatus.RUNNING

    async def finish(
        self,
        task_id: str,
        status: TaskStatus,
        error: str | None,
        *,
        outputs: Sequence[Output],
        log: str | None,
    ) -> Task:
        """Store the end of a run of this process; returns the task as it ended.

        A task cancelled from another process meanwhile stays cancelled: that is returned.
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
            finished_at=utcnow(),
        )
        try:
            await self._store.update(final, expected=TaskStatus.RUNNING)
        except InvalidTransitionError:
            final = await self._store.get(task_id)
        self._changes.publish(task_id)
        return final

    async def end(self, task: Task, status: TaskStatus, error: str) -> Task:
        """Store the end of a task no run of this process will finish: a cancel, a run that
        never started, a dead process's run. Conditional on the status ``task`` was read with.

        Raises:
            InvalidTransitionError: the task changed meanwhile.
        """
        ended = attrs.evolve(task, status=status, phase=None, error=error, finished_at=utcnow())
        await self._store.update(ended, expected=task.status)
        self._changes.publish(task.id)
        return ended

    async def cancel_unstarted(self, task_id: str, *, worker: str, reason: str) -> None:
        """End ``cancelled`` a run stopped before it began, so that nothing is left ``pending``
        or ``running`` with no run to finish it.

        ``worker`` is what the run's claim stored or was storing: a task running by it is
        ours to end.
        """
        try:
            task = await self._store.get(task_id)
            ours = task.status is TaskStatus.RUNNING and task.worker == worker
            if task.status is TaskStatus.PENDING or ours:
                await self.end(task, TaskStatus.CANCELLED, f"cancelled before it started: {reason}")
            # else: run by another process, or ended already
        except InvalidTransitionError:
            return  # another process took it meanwhile: it runs there
        except Exception:
            logger.warning("task %s: could not record its cancellation", task_id, exc_info=True)

    async def fail_interrupted(self) -> Sequence[Task]:
        """Mark ``failed`` the tasks left ``running`` by a process of this host that died;
        returns them. Runs of live processes, and of other hosts, are left alone."""
        interrupted: list[Task] = []
        offset = 0
        while True:
            page = await self._store.list(
                status=TaskStatus.RUNNING, limit=MAX_PAGE_SIZE, offset=offset
            )
            interrupted += [task for task in page if worker_is_gone(task.worker)]
            if len(page) < MAX_PAGE_SIZE:
                break
            offset += len(page)
        marked = []
        for task in interrupted:
            try:
                marked.append(await self.end(task, TaskStatus.FAILED, INTERRUPTED))
            except InvalidTransitionError:
                continue  # another process got there first
            logger.warning("task %s: %s", task.id, INTERRUPTED)
        return marked
