"""Runs in this process: a concurrency limit, a task group for background runs, and the runs in
flight, so that ``cancel()`` can stop one. Also the default :class:`Dispatcher`: a task started
is run here."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime, timedelta
from typing import Any

import anyio
import anyio.abc
import attrs

from ._errors import ConfigurationError, InvalidTransitionError
from ._models import Task, TaskStatus, utcnow
from ._protocols import TaskStore
from ._run import RunContext, TaskRun
from ._workers import this_worker

__all__ = ["LocalRuns"]

logger = logging.getLogger("ffmpeg_tasks")


@attrs.define
class _ActiveRun:
    """A run of this process, from the moment it starts claiming its task."""

    #: Cancelled by ``cancel()``; the run enters it (cancelling it first is fine).
    scope: anyio.CancelScope = attrs.field(factory=anyio.CancelScope)
    #: Set once the claim's write has settled, either way.
    settled: anyio.Event = attrs.field(factory=anyio.Event)
    #: The claim landed: this run owns the task.
    claimed: bool = False
    #: What the claim stores as the task's worker.
    worker: str | None = None


class LocalRuns:
    """Claims and runs tasks here, at most ``max_concurrency`` at once.

    Args:
        store: Where the tasks are.
        context: What each run needs.
        max_concurrency: Runs at once; the others wait for a slot, still ``pending``.
    """

    def __init__(self, store: TaskStore, context: RunContext, *, max_concurrency: int) -> None:
        self._store = store
        self._context = context
        self._limiter = max_concurrency
        self._slots: anyio.CapacityLimiter | None = None
        #: Tasks started or executed here and not finished yet (queued ones too).
        self._scheduled: set[str] = set()
        #: Runs of this process, from their claim on.
        self._active: dict[str, _ActiveRun] = {}
        self._task_group: anyio.abc.TaskGroup | None = None
        #: Set while the owner closes: runs cancelled then are cancelled by the shutdown.
        self._closing = False

    @property
    def max_concurrency(self) -> int:
        """Runs at once, at most."""
        return self._limiter

    @property
    def is_open(self) -> bool:
        """Whether background runs are accepted."""
        return self._task_group is not None

    def check_open(self) -> None:
        """Raise unless :meth:`start` can be called.

        Raises:
            ConfigurationError: not open.
        """
        if self._task_group is None:
            raise ConfigurationError(
                "start() runs tasks in the background and needs an open manager: "
                "use 'async with TaskManager(...) as manager', or call execute() instead"
            )

    def is_scheduled(self, task_id: str) -> bool:
        """Whether a run of ``task_id`` was started here and has not ended."""
        return task_id in self._scheduled

    async def open(self) -> None:
        """Accept background runs (:meth:`start`)."""
        assert self._task_group is None, "opened twice"
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group

    async def close(self) -> None:
        """Cancel the background runs (they end ``cancelled``) and wait for them to record it."""
        task_group, self._task_group = self._task_group, None
        self._closing = True
        if task_group is not None:
            task_group.cancel_scope.cancel()
            await task_group.__aexit__(None, None, None)

    def start(self, task_id: str, *, retry: bool = False, at: datetime | None = None) -> None:
        """Run the task in the background, not before ``at``; a ``retry`` stopped before it
        began (the manager closing) is left ``pending`` for another manager rather than
        cancelled.

        Raises:
            ConfigurationError: not open.
        """
        self.check_open()
        assert self._task_group is not None
        self._scheduled.add(task_id)
        self._task_group.start_soon(self._execute_in_background, task_id, retry, at)

    # -- the Dispatcher port -----------------------------------------------------------------

    async def submit(self, task: Task, *, at: datetime | None = None) -> None:
        """Run ``task`` here, in the background (:meth:`start`).

        Raises:
            ConfigurationError: not open.
            InvalidTransitionError: it was started here already and has not ended.
        """
        self.check_open()
        if self.is_scheduled(task.id):
            raise InvalidTransitionError(
                f"task {task.id!r} is started; only a pending task can be executed, once",
                task_id=task.id,
                status=task.status.value,
            )
        self.start(task.id, retry=task.retry_at is not None, at=at)

    async def withdraw(self, task_id: str) -> None:
        """Nothing waits in a queue here: a run of this process stops through ``cancel()``."""

    async def aclose(self) -> None:
        """Nothing to release: the owner's :meth:`close` ends the runs."""

    # -- handing runs back ---------------------------------------------------------------------

    async def hand_back(self) -> Sequence[str]:
        """Stop every run of this process and put its task back to ``pending`` (its attempt
        counted), claimable after one heartbeat, for another process to run; returns their ids.

        The store changes first, so the run's own end stores nothing over it.
        """
        handed: list[str] = []
        for task_id, active in list(self._active.items()):
            await active.settled.wait()
            if not active.claimed:
                continue  # it stops before it runs, and leaves the task pending
            try:
                task = await self._store.get(task_id)
                if task.status is TaskStatus.RUNNING and task.worker == active.worker:
                    at = utcnow() + timedelta(seconds=self._context.heartbeat)
                    await self._context.transitions.retry(task, at=at)
                    handed.append(task_id)
            except InvalidTransitionError:
                pass  # it ended, or was recovered, meanwhile
            except Exception:
                logger.warning("task %s: could not hand it back", task_id, exc_info=True)
            active.scope.cancel()
        return handed

    def start_service(self, service: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``service`` in the background until :meth:`close` (recovery passes).

        Raises:
            ConfigurationError: not open.
        """
        self.check_open()
        assert self._task_group is not None
        self._task_group.start_soon(service)

    async def execute(self, task_id: str, *, raise_if_taken: bool, retry: bool = False) -> Task:
        """Claim the task once a slot is free, run it, return its final state.

        Raises:
            InvalidTransitionError: with ``raise_if_taken``, another run claimed it first.
        """
        self._scheduled.add(task_id)
        worker = this_worker()
        claimed = False
        try:
            async with self._slot():
                active = self._active[task_id] = _ActiveRun(worker=worker)
                try:
                    claim = await self._context.transitions.claim(task_id, worker=worker)
                except InvalidTransitionError:
                    current = await self._store.get(task_id)
                    if raise_if_taken and current.status is not TaskStatus.CANCELLED:
                        raise
                    return current  # cancelled while queued, or another worker took it
                else:
                    claimed = active.claimed = True
                finally:
                    active.settled.set()
                # No await from the claim to the run's own try: whatever happens from here
                # on, the task gets a final status.
                run = TaskRun(
                    self._context, claim, scope=active.scope, interrupted_by=self._interrupted_by
                )
                return await run.run()
        except anyio.get_cancelled_exc_class():
            if not claimed:
                with anyio.CancelScope(shield=True):
                    await self._context.transitions.cancel_unstarted(
                        task_id, worker=worker, reason=self._interrupted_by(), keep_pending=retry
                    )
            raise
        finally:
            self._active.pop(task_id, None)
            self._scheduled.discard(task_id)

    async def cancel(self, task_id: str) -> bool:
        """Stop this process's run of ``task_id``; False when none here owns the task."""
        active = self._active.get(task_id)
        if active is None:
            return False
        await active.settled.wait()  # one store write at most
        if active.claimed:
            active.scope.cancel()
        return active.claimed

    async def _execute_in_background(self, task_id: str, retry: bool, at: datetime | None) -> None:
        try:
            if at is not None:
                await anyio.sleep(max((at - utcnow()).total_seconds(), 0))
            await self.execute(task_id, raise_if_taken=False, retry=retry)
        except Exception:
            logger.exception("task %s could not be run", task_id)

    def _interrupted_by(self) -> str:
        if self._closing:
            return "the manager is shutting down"
        return "its caller was cancelled (a timeout, a closed request, a service shutting down)"

    def _slot(self) -> anyio.CapacityLimiter:
        if self._slots is None:  # made on first use: it needs a running event loop
            self._slots = anyio.CapacityLimiter(self._limiter)
        return self._slots
