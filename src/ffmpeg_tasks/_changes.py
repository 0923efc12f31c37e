"""Telling waiters that a task changed, without ever losing the latest state.

Waiters do not receive copies of every change (a slow reader would fall behind or need an
unbounded queue); they are woken and re-read the store, so they always see the newest state.
A waiter also re-reads on a short poll interval, which covers changes made by other processes
sharing the store.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable

import anyio
import attrs

from ._models import Task

__all__ = ["ChangeFeed"]


class ChangeFeed:
    """One wake-up signal per watched task, set and dropped on each change."""

    def __init__(self, load: Callable[[str], Awaitable[Task]], *, poll_interval: float) -> None:
        self._load = load
        self._poll_interval = poll_interval
        self._signals: dict[str, anyio.Event] = {}

    def publish(self, task_id: str) -> None:
        """Wake everyone watching ``task_id``."""
        signal = self._signals.pop(task_id, None)
        if signal is not None:
            signal.set()

    async def watch(self, task_id: str) -> AsyncGenerator[Task, None]:
        """Yield the task now and after every change, ending with its terminal state."""
        last: Task | None = None
        while True:
            # Take the signal before reading, so a change between the read and the wait wakes us.
            signal = self._signals.setdefault(task_id, anyio.Event())
            task = await self._load(task_id)
            # A renewed lease alone is no change a waiter wants to see.
            if last is None or attrs.evolve(task, lease_expires_at=last.lease_expires_at) != last:
                last = task
                yield task
            if task.status.is_terminal:
                self.publish(task_id)  # nothing will change again: free the signal
                return
            with anyio.move_on_after(self._poll_interval):
                await signal.wait()
