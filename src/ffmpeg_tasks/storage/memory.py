"""An in-process store: the default, and the reference the contract tests hold other stores to."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from .._errors import InvalidTaskError, InvalidTransitionError, TaskNotFoundError
from .._models import Task, TaskStatus

__all__ = ["MemoryStore"]


class MemoryStore:
    """Keeps tasks in a dict. Safe to share between tasks and threads; lost when the process ends.

    Every method runs without awaiting inside its critical section, and a lock covers callers on
    other threads (two managers on two event loops sharing one store).
    """

    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryStore(tasks={len(self._tasks)})"

    async def create(self, task: Task) -> None:
        with self._lock:
            if task.id in self._tasks:
                raise InvalidTaskError(f"a task with id {task.id!r} exists already")
            self._tasks[task.id] = task

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

    async def update(self, task: Task, *, expected: TaskStatus) -> Task:
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
            self._tasks[task.id] = task
            return task

    async def aclose(self) -> None:
        """Nothing to release; present so every store closes the same way."""
