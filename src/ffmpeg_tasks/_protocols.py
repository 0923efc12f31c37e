"""The ports the manager talks to. Adapters live in ``storage/``, ``fetchers/``, ``runners/``,
``uploaders/`` and ``integrations/`` (dispatchers); ``ffmpeg_tasks.testing`` has fakes of each.

Every method is async, takes keyword-only arguments after the first, and exchanges attrs values.
Adapters do not inherit from these classes: ``tests/typing`` proves they conform.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Protocol

from ._deliveries import Delivery
from ._media import MediaInfo
from ._models import Health, Output, Progress, Task, TaskStatus

__all__ = ["Dispatcher", "Fetcher", "ProgressCallback", "Runner", "TaskStore", "Uploader"]

#: Called by a runner on every progress report; awaited, so it may write to a store.
ProgressCallback = Callable[[Progress], Awaitable[None]]


class TaskStore(Protocol):
    """Where task state lives. May be shared by several processes (SQL stores).

    State changes go through :meth:`update`, an atomic compare-and-set on the status (and, for
    a run's writes, on the claim that made it), so two workers can never both claim the same
    pending task, and a run that lost its claim never writes over a newer attempt.
    """

    async def create(self, task: Task) -> None:
        """Store a new task.

        Raises:
            InvalidTaskError: a task with the same id exists already.
        """
        ...

    async def get(self, task_id: str) -> Task:
        """Return the task as last stored.

        Raises:
            TaskNotFoundError: no task has that id.
        """
        ...

    async def list(
        self,
        *,
        status: TaskStatus | None = None,
        owner: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Sequence[Task]:
        """Tasks newest first, optionally only those with ``status`` and ``owner``."""
        ...

    async def update(
        self,
        task: Task,
        *,
        expected: TaskStatus,
        expected_worker: str | None = None,
        deliveries: Sequence[Delivery] = (),
    ) -> Task:
        """Replace the stored task with ``task`` if its stored status is still ``expected``
        and, when ``expected_worker`` is given, its stored ``worker`` (the claim) is that.

        ``deliveries`` (the webhooks telling of this change) join the outbox in the same
        step: stored when the update lands, never when it is refused. One whose event id and
        URL are stored already is left as it is.

        The conditions and the writes are one atomic step, also between processes.

        Raises:
            TaskNotFoundError: no task has that id.
            InvalidTransitionError: the stored status is no longer ``expected``, or the task
                is claimed by another worker than ``expected_worker``.
        """
        ...

    async def counts(self) -> Mapping[TaskStatus, int]:
        """How many tasks are in each status (a status with none may be left out)."""
        ...

    async def claim_deliveries(
        self, *, now: datetime, limit: int, worker: str, lease_until: datetime
    ) -> Sequence[Delivery]:
        """Lease up to ``limit`` pending deliveries due by ``now`` whose lease is free or
        lapsed to ``worker`` until ``lease_until``, the earliest due first; returns them as
        leased. Two callers never lease the same delivery at once, also between processes.
        """
        ...

    async def record_attempt(self, delivery: Delivery, *, worker: str) -> bool:
        """Store ``delivery`` (an attempt's outcome) if ``worker`` still holds its lease;
        False, and nothing stored, when the lease went to another or it was re-queued."""
        ...

    async def list_deliveries(self, task_ids: Sequence[str]) -> Sequence[Delivery]:
        """The deliveries of these tasks, in the order their events happened."""
        ...

    async def requeue_deliveries(self, task_id: str, *, at: datetime) -> Sequence[Delivery]:
        """Make every delivery of the task pending again, due at ``at``, its retry schedule
        restarted and its lease released (:meth:`Delivery.requeued`); returns them."""
        ...

    async def aclose(self) -> None:
        """Release connections; the store is unusable afterwards."""
        ...


class Fetcher(Protocol):
    """Brings one input from its URL into the task's working folder."""

    async def check(self, url: str) -> None:
        """Refuse a URL this fetcher will not fetch, before anything is downloaded.

        Raises:
            InvalidTaskError: the URL's scheme, host or form is not allowed.
        """
        ...

    async def fetch(self, url: str, *, destination: Path) -> int:
        """Stream ``url`` into the file ``destination`` and return the number of bytes written.

        Raises:
            FetchError: the download failed; the message says why (status, size, truncation).
        """
        ...

    async def aclose(self) -> None:
        """Release connection pools."""
        ...


class Runner(Protocol):
    """Runs ffmpeg with checked arguments inside a working folder."""

    async def run(
        self,
        args: Sequence[str],
        *,
        workdir: Path,
        on_progress: ProgressCallback | None = None,
    ) -> str:
        """Run ffmpeg with ``args`` (without the program name) in ``workdir``.

        Returns the tail of ffmpeg's stderr. Cancelling the caller stops ffmpeg and its children.

        Raises:
            ConfigurationError: no usable ffmpeg binary.
            RunError: ffmpeg exited with a non-zero status.
        """
        ...

    async def probe(
        self, names: Sequence[str], *, workdir: Path
    ) -> Sequence[MediaInfo | None] | None:
        """Read the container, duration and streams of files in ``workdir`` (a run's outputs,
        the inputs an expectation names), with the same isolation and limits as ffmpeg: a
        file ffmpeg wrote is untrusted input to the prober.

        Returns one :class:`MediaInfo` per name, in order (None for a file that is not media
        the prober reads), or None when this runner has no way to probe (the outputs are
        then stored without ``media``).

        Raises:
            RunError: a file is not media the prober can read, or the probe failed or
                reached a limit.
        """
        ...

    async def health(self) -> Health:
        """Where ffmpeg is, its version, and the runner's own facts (sandbox, limits)."""
        ...

    async def aclose(self) -> None:
        """Release whatever the runner holds."""
        ...


class Uploader(Protocol):
    """Stores a finished output where the task's caller can get it.

    Adapters give a ``repr`` without secrets: ``health()`` shows it.
    """

    async def upload(self, path: Path, *, task_id: str, name: str) -> Output:
        """Store the file at ``path`` as output ``name`` of task ``task_id``.

        Two tasks never overwrite each other's outputs.

        Raises:
            UploadError: the output could not be stored; nothing half-written remains.
        """
        ...

    async def delete(self, *, task_id: str, name: str) -> None:
        """Remove output ``name`` of task ``task_id``, which this uploader stored; nothing
        happens when it is not there. A run whose other outputs fail calls it, so that a
        task never leaves part of its outputs behind.

        Raises:
            UploadError: it could not be removed.
        """
        ...

    async def aclose(self) -> None:
        """Release clients and pools."""
        ...


class Dispatcher(Protocol):
    """How a started task reaches a process that runs it.

    The default runs it in the manager's own process. Another dispatcher hands it to worker
    processes (``ffmpeg_tasks.integrations.procrastinate``), whose own managers share the
    store, claim the task and run it: the store stays the one record of status and progress,
    and its claim makes a task handed out twice run once.
    """

    async def submit(self, task: Task, *, at: datetime | None = None) -> None:
        """Have ``task`` (stored, ``pending``) run by a process that takes its
        :attr:`~Task.queue`, before tasks of lower :attr:`~Task.priority`, not before ``at``.

        Raises:
            InvalidTransitionError: the task is waiting in the queue already.
            ConfigurationError: the queue cannot be reached.
        """
        ...

    async def withdraw(self, task_id: str) -> None:
        """Take back a task's job still waiting in the queue (it was cancelled); nothing
        happens when there is none. A run already going is stopped through the store.

        Raises:
            ConfigurationError: the queue cannot be reached.
        """
        ...

    async def aclose(self) -> None:
        """Release connections; runs handed out go on where they run."""
        ...
