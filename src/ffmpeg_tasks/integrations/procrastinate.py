"""Tasks run by worker processes on other machines, handed out through procrastinate's queue in
the PostgreSQL database the tasks live in.

``pip install "ffmpeg-tasks[workers]"``. Three parts:

- :class:`ProcrastinateDispatcher`, the :class:`~ffmpeg_tasks.Dispatcher` of a manager that
  registers and reports (an API): ``start()`` enqueues a job, ``execute()`` enqueues and
  waits; the task's ``queue`` and ``priority`` route and order it.
- :class:`ProcrastinateWorker`, inside a worker process (``ffmpeg-tasks worker``) or an
  application's lifespan: takes jobs, and runs each through its own manager on the same store,
  which claims the task, so every guarantee of a run in-process holds (claims, leases,
  recovery, work folders).
- :meth:`ProcrastinateDispatcher.migrate`: procrastinate's tables, once per database
  (``ffmpeg-tasks db migrate`` with ``FFMPEG_TASKS_WORKERS=procrastinate`` calls it).

The store decides everything about a task; a job only says "run this task". A job whose task is
no longer pending when a worker takes it (cancelled, or run by another job) ends at once.
procrastinate runs on asyncio only.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterable
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Self

import anyio
import anyio.abc
import sniffio
from anyio.abc import AsyncResource

from .._checks import check_lease, check_positive_int, check_queue, check_seconds
from .._defaults import DEFAULT_LEASE
from .._errors import ConfigurationError, InvalidTransitionError
from .._models import Task, TaskStatus
from ._extras import missing_extra

try:
    import procrastinate
    from procrastinate import exceptions as procrastinate_errors
    from procrastinate.worker import Worker
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without the extra
    raise missing_extra("workers", exc) from exc

if TYPE_CHECKING:
    from .._manager import TaskManager

__all__ = ["DEFAULT_QUEUE", "ProcrastinateDispatcher", "ProcrastinateWorker"]

logger = logging.getLogger("ffmpeg_tasks")

#: The procrastinate task every job is of; its one argument is ``task_id``.
_TASK_NAME = "ffmpeg_tasks.run"
#: The queue of a task registered without one.
DEFAULT_QUEUE = "ffmpeg"
#: Where a worker's jobs find what runs them, in procrastinate's job context.
_CONTEXT_KEY = "ffmpeg_tasks"
#: Serialises ``migrate()`` of one database, whichever hosts run it.
_MIGRATE_LOCK = "ffmpeg_tasks.migrate.procrastinate"


class ProcrastinateDispatcher(AsyncResource):
    """Hands started tasks to procrastinate workers through PostgreSQL.

    A task's job carries its id only, with the id as procrastinate's ``queueing_lock``: a
    task waits in the queue once at most. Jobs are never retried by procrastinate: when a
    run is interrupted, the store's recovery decides (``retries``) and hands the retry out.

    Args:
        dsn: The PostgreSQL database of the tasks (``FFMPEG_TASKS_DATABASE``), where
            procrastinate's tables are too. Give this or ``app``.
        app: A ``procrastinate.App`` of the application's, whose jobs share its database;
            the dispatcher adds its task to it and neither opens nor closes it.
        default_queue: The queue of tasks registered without one.
        max_size: The most connections the dispatcher's own pool opens.

    Raises:
        ConfigurationError: both or neither of ``dsn`` and ``app``, or a bad queue name.
    """

    #: The procrastinate task of the jobs (its one argument is ``task_id``).
    task_name = _TASK_NAME

    def __init__(
        self,
        dsn: str | None = None,
        *,
        app: procrastinate.App | None = None,
        default_queue: str = DEFAULT_QUEUE,
        max_size: int = 10,
    ) -> None:
        if (dsn is None) == (app is None):
            raise ConfigurationError(
                "ProcrastinateDispatcher needs a dsn or an app, and only one of them"
            )
        try:
            self.default_queue = check_queue(default_queue) or DEFAULT_QUEUE
        except ValueError as exc:
            raise ConfigurationError(f"default_queue: {exc}") from None
        self._dsn = dsn
        self._own_app = app is None
        if app is None:
            connector = procrastinate.PsycopgConnector(conninfo=dsn, min_size=1, max_size=max_size)
            app = procrastinate.App(connector=connector)
        #: The procrastinate app the jobs go through.
        self.app = app
        if _TASK_NAME not in app.tasks:
            app.task(name=_TASK_NAME, pass_context=True, queue=self.default_queue)(_run_job)
        self._opened = False
        self._closed = False

    def __repr__(self) -> str:
        if self._dsn is None:
            return "ProcrastinateDispatcher(the application's app)"
        from ..storage.postgres import describe_dsn

        return f"ProcrastinateDispatcher({describe_dsn(self._dsn)!r})"

    # -- the port ------------------------------------------------------------------------------

    async def submit(self, task: Task, *, at: datetime | None = None) -> None:
        await self.open()
        deferrer = self.app.configure_task(
            _TASK_NAME,
            queue=task.queue or self.default_queue,
            priority=task.priority,
            queueing_lock=task.id,
            schedule_at=at,
        )
        try:
            await deferrer.defer_async(task_id=task.id)
        except procrastinate_errors.AlreadyEnqueued:
            raise InvalidTransitionError(
                f"task {task.id!r} is started (it waits for a worker); only a pending task "
                "can be executed, once",
                task_id=task.id,
                status=task.status.value,
            ) from None
        except procrastinate_errors.ConnectorException as exc:
            raise _unreachable(exc) from exc

    async def withdraw(self, task_id: str) -> None:
        await self.open()
        manager = self.app.job_manager
        try:
            for job in await manager.list_jobs_async(queueing_lock=task_id, status="todo"):
                assert job.id is not None
                await manager.cancel_job_by_id_async(job.id)
        except procrastinate_errors.ConnectorException as exc:
            raise _unreachable(exc) from exc

    async def aclose(self) -> None:
        """Close the dispatcher's own pool (never the application's app)."""
        if self._closed:
            return
        self._closed = True
        if self._opened and self._own_app:
            with anyio.CancelScope(shield=True):
                await self.app.close_async()

    # -- set-up --------------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the pool (done by the first call that needs it).

        Raises:
            ConfigurationError: not on asyncio, closed, or the database is unreachable.
        """
        if self._closed:
            raise ConfigurationError(f"{self!r} is closed")
        if self._opened:
            return
        if sniffio.current_async_library() != "asyncio":
            raise ConfigurationError(
                "ProcrastinateDispatcher runs on asyncio only (procrastinate's own event "
                "loop); run the manager that uses it with asyncio"
            )
        if self._own_app:
            try:
                await self.app.open_async()
            except procrastinate_errors.ConnectorException as exc:
                raise _unreachable(exc) from exc
        self._opened = True

    async def migrate(self) -> bool:
        """Create procrastinate's tables in the first schema of the DSN's ``search_path``
        unless they exist; True when it made them. Safe to run again, from several hosts.

        An upgrade of procrastinate that changes its tables follows procrastinate's own
        migrations (``procrastinate schema --migrations-path``).

        Raises:
            ConfigurationError: the database is unreachable, or the dispatcher was given an
                app instead of a dsn.
        """
        if self._dsn is None:
            raise ConfigurationError(
                "migrate() needs a dispatcher built from a dsn; with an app of your own, run "
                "`procrastinate schema --apply` (or app.schema_manager.apply_schema_async())"
            )
        import psycopg
        from procrastinate.schema import SchemaManager

        try:
            connection = await psycopg.AsyncConnection.connect(self._dsn, connect_timeout=10)
            async with connection, connection.transaction():
                await connection.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))", (_MIGRATE_LOCK,)
                )
                cursor = await connection.execute("SELECT to_regclass('procrastinate_jobs')")
                row = await cursor.fetchone()
                if row is not None and row[0] is not None:
                    return False
                await connection.execute(SchemaManager.get_schema().encode())
        except psycopg.Error as exc:
            raise _unreachable(exc) from exc
        return True


class ProcrastinateWorker:
    """Takes jobs of a :class:`ProcrastinateDispatcher` and runs their tasks through
    ``manager``, in this process, until it leaves ``async with``.

    Leaving it stops taking jobs and gives the runs going ``grace`` seconds to finish; then
    it hands them back (:meth:`TaskManager.hand_back`): each is stopped and its task put back
    to ``pending``, to be run again by another worker (that counts as an attempt). It also
    puts back in the queue the jobs of workers that vanished before they claimed their task.

    In an application's lifespan (asyncio)::

        dispatcher = ProcrastinateDispatcher(dsn)
        manager = TaskManager.from_env(dispatcher=dispatcher, max_concurrency=2)
        async with manager, ProcrastinateWorker(manager, dispatcher, concurrency=2):
            yield

    Args:
        manager: Runs the tasks; it shares the store with the API's manager, and should use
            ``dispatcher`` too (its recovery hands retries out through it). Open it first.
        dispatcher: Where the jobs come from.
        concurrency: Tasks run at once; the manager's ``max_concurrency`` should be as many.
        queues: The queues it takes jobs from; every queue when None.
        grace: Seconds the runs going get to finish when it stops; None waits for them.
        name: The worker's name in procrastinate's tables and logs; host and pid when None.
        lease: The manager's ``lease``: a worker silent for that long is taken for lost.
        poll_interval: Seconds between two looks for jobs when no notification came.
    """

    def __init__(
        self,
        manager: TaskManager,
        dispatcher: ProcrastinateDispatcher,
        *,
        concurrency: int = 1,
        queues: Iterable[str] | None = None,
        grace: float | None = 30.0,
        name: str | None = None,
        lease: float = DEFAULT_LEASE,
        poll_interval: float = 5.0,
    ) -> None:
        self.concurrency = check_positive_int(concurrency, "concurrency")
        try:
            self.queues = None if queues is None else [str(check_queue(q)) for q in queues]
        except ValueError as exc:
            raise ConfigurationError(f"queues: {exc}") from None
        self.grace = None if grace is None else check_seconds(grace, "grace", zero_ok=True)
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self._manager = manager
        self._dispatcher = dispatcher
        self._poll_interval = check_seconds(poll_interval, "poll_interval")
        self._lease, _ = check_lease(lease, lease / 3)
        self._worker: Worker | None = None
        self._group: anyio.abc.TaskGroup | None = None
        self._stopped = anyio.Event()
        self._hand_back_now = anyio.Event()

    def __repr__(self) -> str:
        queues = "every queue" if self.queues is None else ", ".join(self.queues)
        return f"ProcrastinateWorker({self.name!r}, {queues}, concurrency={self.concurrency})"

    async def __aenter__(self) -> Self:
        await self._dispatcher.open()
        self._worker = Worker(
            app=self._dispatcher.app,
            queues=self.queues,
            name=self.name,
            concurrency=self.concurrency,
            install_signal_handlers=False,
            shutdown_graceful_timeout=None,
            delete_jobs="successful",
            fetch_job_polling_interval=self._poll_interval,
            abort_job_polling_interval=self._poll_interval,
            update_heartbeat_interval=self._lease / 3,
            stalled_worker_timeout=self._lease,
            additional_context={_CONTEXT_KEY: (self._manager, self._dispatcher)},
        )
        group = anyio.create_task_group()
        await group.__aenter__()
        self._group = group
        group.start_soon(self._run_worker, self._worker)
        group.start_soon(self._requeue_lost_jobs, self._lease)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        group, self._group = self._group, None
        if group is None:
            return
        try:
            with anyio.CancelScope(shield=True):
                await self._drain()
        finally:
            group.cancel_scope.cancel()
            await group.__aexit__(None, None, None)  # (not shielded: it exits its own scope)

    def hand_back_now(self) -> None:
        """Do not wait for the grace period when stopping (a second stop signal)."""
        self._hand_back_now.set()

    async def _run_worker(self, worker: Worker) -> None:
        try:
            await worker.run()  # type: ignore[no-untyped-call]
        finally:
            self._stopped.set()

    async def _drain(self) -> None:
        """Stop taking jobs, give the runs going their grace, hand the rest back."""
        assert self._worker is not None
        worker_id = self._worker.worker_id
        self._worker.stop()  # type: ignore[no-untyped-call]
        async with anyio.create_task_group() as beating:
            # procrastinate stops its heartbeat when it stops taking jobs: beat on while the
            # runs finish, so that no other worker takes them for lost
            if worker_id is not None:
                beating.start_soon(self._beat, worker_id)
            await self._finish_or_hand_back()
            beating.cancel_scope.cancel()

    async def _beat(self, worker_id: int) -> None:
        while True:
            await anyio.sleep(self._lease / 3)
            try:
                await self._dispatcher.app.job_manager.update_heartbeat(worker_id)
            except Exception:
                logger.warning("worker %s: could not renew its heartbeat", self.name, exc_info=True)

    async def _finish_or_hand_back(self) -> None:
        with anyio.move_on_after(float("inf") if self.grace is None else self.grace):
            async with anyio.create_task_group() as group:

                async def hand_back_early() -> None:
                    await self._hand_back_now.wait()
                    group.cancel_scope.cancel()

                group.start_soon(hand_back_early)
                await self._stopped.wait()
                group.cancel_scope.cancel()
        if not self._stopped.is_set():
            handed = await self._manager.hand_back()
            if handed:
                logger.warning(
                    "worker %s: handed %d running task(s) back to the queue: %s",
                    self.name,
                    len(handed),
                    ", ".join(task.id for task in handed),
                )
            await self._stopped.wait()

    async def _requeue_lost_jobs(self, lease: float) -> None:
        """Every lease: jobs of vanished workers whose task is still pending without a retry
        (the worker died between taking the job and claiming the task) go back to the queue;
        those whose task has ended are removed. The store's recovery has the others' task."""
        jobs = self._dispatcher.app.job_manager
        while True:
            await anyio.sleep(lease)
            try:
                for job in await jobs.get_stalled_jobs(
                    task_name=_TASK_NAME, seconds_since_heartbeat=lease
                ):
                    assert job.id is not None
                    task = await self._manager.get(str(job.task_kwargs["task_id"]))
                    if task.status is TaskStatus.PENDING and task.retry_at is None:
                        await jobs.retry_job(job)
                    elif task.status.is_terminal:
                        await jobs.finish_job_by_id_async(
                            job_id=job.id,
                            status=procrastinate.jobs.Status.FAILED,
                            delete_job=True,
                        )
            except Exception:
                logger.warning("could not look for jobs of lost workers", exc_info=True)


async def _run_job(context: procrastinate.JobContext, task_id: str) -> None:
    """A job: run the task here; a task still pending when it ends (handed back, cancelled
    before its claim) gets a new job, so that it never waits with none."""
    found = context.additional_context.get(_CONTEXT_KEY)
    if found is None:
        raise ConfigurationError(
            f"a job of {_TASK_NAME} ran outside an ffmpeg-tasks worker: run `ffmpeg-tasks "
            "worker`, or a ProcrastinateWorker in your application"
        )
    manager, dispatcher = found
    try:
        await manager.run_dispatched(task_id)
    finally:
        with anyio.CancelScope(shield=True):
            await _resubmit_if_pending(manager, dispatcher, task_id)


async def _resubmit_if_pending(
    manager: TaskManager, dispatcher: ProcrastinateDispatcher, task_id: str
) -> None:
    try:
        task = await manager.get(task_id)
        if task.status is TaskStatus.PENDING:
            await dispatcher.submit(task, at=task.retry_at)
    except InvalidTransitionError:
        pass  # it waits in the queue already
    except Exception:
        # Recovery hands out overdue retries again; a plain start is put back by the worker
        # that finds this job stalled.
        logger.warning("task %s: could not put it back in the queue", task_id, exc_info=True)


def _unreachable(exc: BaseException) -> ConfigurationError:
    cause = exc.__cause__ or exc
    reason = " ".join(str(cause).split()) or type(cause).__name__
    return ConfigurationError(
        f"procrastinate's queue in the task database is not usable: {reason}; check that "
        "PostgreSQL runs, and run `ffmpeg-tasks db migrate` with FFMPEG_TASKS_WORKERS="
        "procrastinate once to make procrastinate's tables"
    )
