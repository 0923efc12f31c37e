"""SyncTaskManager: the blocking facade for scripts and notebooks.

Every call is forwarded to the async manager through one anyio blocking portal: an event loop in
a helper thread that this facade starts on first use and stops on ``close()``. It therefore also
works where the calling thread already runs an event loop (a Jupyter kernel).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Self, TextIO, TypeVar

from anyio.from_thread import BlockingPortal, BlockingPortalProvider

from ._deliveries import Delivery
from ._errors import ConfigurationError
from ._events import DEFAULT_EVENT_BUFFER, TaskEvent
from ._expect import Expect
from ._manager import TaskManager
from ._models import Health, Task, TaskStatus
from ._policy import CommandPolicy
from ._tables import TaskList
from ._telemetry import Metrics

__all__ = ["SyncTaskManager"]

T = TypeVar("T")

#: The event loops the portal's thread can run.
_BACKENDS = ("asyncio", "trio")


class SyncTaskManager:
    """The same methods as :class:`TaskManager`, blocking.

    Use it as a context manager (``with SyncTaskManager() as m:``) so the background tasks of
    ``start()`` have somewhere to run and everything is closed at the end; without ``with``, call
    :meth:`close` when done.

    Args:
        manager: The manager to drive; a default ``TaskManager()`` when None.
        backend: The async backend of the portal's loop: ``"asyncio"`` or ``"trio"``.
    """

    def __init__(self, manager: TaskManager | None = None, *, backend: str = "asyncio") -> None:
        if backend not in _BACKENDS:
            raise ConfigurationError(
                f"backend must be one of {', '.join(map(repr, _BACKENDS))}, got {backend!r}"
            )
        if manager is not None and not isinstance(manager, TaskManager):
            raise ConfigurationError(
                f"SyncTaskManager wraps a TaskManager, got {type(manager).__name__}"
            )
        self._manager = manager if manager is not None else TaskManager()
        self._provider = BlockingPortalProvider(backend=backend)
        self._portal: BlockingPortal | None = None
        self._opened: AbstractContextManager[TaskManager] | None = None

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, backend: str = "asyncio", **kwargs: Any
    ) -> SyncTaskManager:
        """See :meth:`TaskManager.from_env`; ``backend`` as in the constructor."""
        return cls(TaskManager.from_env(environ, **kwargs), backend=backend)

    def __repr__(self) -> str:
        return f"SyncTaskManager({self._manager!r})"

    @property
    def manager(self) -> TaskManager:
        """The async manager behind this facade."""
        return self._manager

    @property
    def metrics(self) -> Metrics | None:
        """See :attr:`TaskManager.metrics`."""
        return self._manager.metrics

    @property
    def policy(self) -> CommandPolicy:
        """See :attr:`TaskManager.policy`."""
        return self._manager.policy

    def __enter__(self) -> Self:
        opened = self._portal_or_start().wrap_async_context_manager(self._manager)
        opened.__enter__()
        self._opened = opened
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Cancel background tasks, close the manager and stop the portal's thread."""
        if self._portal is None:
            return
        opened, self._opened = self._opened, None
        try:
            if opened is not None:
                opened.__exit__(None, None, None)
            else:
                self._portal.call(self._manager.aclose)
        finally:
            self._portal = None
            self._provider.__exit__(None, None, None)

    def _portal_or_start(self) -> BlockingPortal:
        if self._portal is None:
            self._portal = self._provider.__enter__()
        return self._portal

    def _call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self._portal_or_start().call(lambda: function(*args, **kwargs))

    def register(
        self,
        command: str,
        input_files: Mapping[str, str],
        output_filename: str,
        *,
        outputs: Iterable[str] = (),
        expect: Expect = None,
        timeout: float | None = None,
        owner: str | None = None,
        queue: str | None = None,
        priority: int = 0,
        webhook_url: str | None = None,
    ) -> Task:
        """See :meth:`TaskManager.register`."""
        task: Task = self._call(
            self._manager.register,
            command,
            input_files,
            output_filename,
            outputs=outputs,
            expect=expect,
            timeout=timeout,
            owner=owner,
            queue=queue,
            priority=priority,
            webhook_url=webhook_url,
        )
        return task

    def execute(self, task_id: str, *, progress: bool = False) -> Task:
        """See :meth:`TaskManager.execute`."""
        task: Task = self._call(self._manager.execute, task_id, progress=progress)
        return task

    def start(self, task_id: str) -> None:
        """See :meth:`TaskManager.start`; needs ``with SyncTaskManager(...)``.

        Raises:
            ConfigurationError: the facade is not open (no ``with``).
        """
        if self._opened is None:
            raise ConfigurationError(
                "start() runs tasks in the background and needs an open facade: "
                "use 'with SyncTaskManager(...) as manager', or call execute() instead"
            )
        self._call(self._manager.start, task_id)

    def run_dispatched(self, task_id: str) -> Task:
        """See :meth:`TaskManager.run_dispatched`."""
        task: Task = self._call(self._manager.run_dispatched, task_id)
        return task

    def hand_back(self) -> Sequence[Task]:
        """See :meth:`TaskManager.hand_back`."""
        tasks: Sequence[Task] = self._call(self._manager.hand_back)
        return tasks

    def wait(self, task_id: str, timeout: float | None = None) -> Task:
        """See :meth:`TaskManager.wait`."""
        task: Task = self._call(self._manager.wait, task_id, timeout)
        return task

    def cancel(self, task_id: str) -> Task:
        """See :meth:`TaskManager.cancel`."""
        task: Task = self._call(self._manager.cancel, task_id)
        return task

    def get(self, task_id: str) -> Task:
        """See :meth:`TaskManager.get`."""
        task: Task = self._call(self._manager.get, task_id)
        return task

    def list(
        self,
        status: TaskStatus | str | None = None,
        limit: int = 100,
        *,
        offset: int = 0,
        owner: str | None = None,
    ) -> TaskList:
        """See :meth:`TaskManager.list`."""
        tasks: TaskList = self._call(self._manager.list, status, limit, offset=offset, owner=owner)
        return tasks

    def show_progress(
        self,
        task_ids: str | Iterable[str],
        *,
        timeout: float | None = None,
        summary: bool | None = None,
        file: TextIO | None = None,
    ) -> TaskList:
        """See :meth:`TaskManager.show_progress`; the bars are drawn from the facade's thread."""
        tasks: TaskList = self._call(
            self._manager.show_progress, task_ids, timeout=timeout, summary=summary, file=file
        )
        return tasks

    def recover(self) -> Sequence[Task]:
        """See :meth:`TaskManager.recover`."""
        tasks: Sequence[Task] = self._call(self._manager.recover)
        return tasks

    def fail_interrupted(self) -> Sequence[Task]:
        """See :meth:`TaskManager.fail_interrupted`."""
        tasks: Sequence[Task] = self._call(self._manager.fail_interrupted)
        return tasks

    def counts(self) -> Mapping[TaskStatus, int]:
        """See :meth:`TaskManager.counts`."""
        counts: Mapping[TaskStatus, int] = self._call(self._manager.counts)
        return counts

    def deliveries(self, task_id: str) -> Sequence[Delivery]:
        """See :meth:`TaskManager.deliveries`."""
        found: Sequence[Delivery] = self._call(self._manager.deliveries, task_id)
        return found

    def redeliver(self, task_id: str) -> Sequence[Delivery]:
        """See :meth:`TaskManager.redeliver`."""
        found: Sequence[Delivery] = self._call(self._manager.redeliver, task_id)
        return found

    def events(self, *, buffer: int = DEFAULT_EVENT_BUFFER) -> Iterator[TaskEvent]:
        """See :meth:`TaskManager.events`: a plain iterator, subscribed from this call on;
        leaving the loop (``break``) stops receiving."""
        portal = self._portal_or_start()
        stream = portal.call(lambda: self._manager.events(buffer=buffer))

        def read() -> Iterator[TaskEvent]:
            try:
                while True:
                    try:
                        yield portal.call(stream.__anext__)
                    except StopAsyncIteration:
                        return
            finally:
                portal.call(stream.aclose)

        return read()

    def health(self) -> Health:
        """See :meth:`TaskManager.health`."""
        health: Health = self._call(self._manager.health)
        return health

    def watch(self, task_id: str) -> Iterator[Task]:
        """See :meth:`TaskManager.watch`: a plain iterator of the task's states."""
        changes = self._manager.watch(task_id)
        portal = self._portal_or_start()
        try:
            while True:
                try:
                    yield portal.call(changes.__anext__)
                except StopAsyncIteration:
                    return
        finally:
            portal.call(changes.aclose)
