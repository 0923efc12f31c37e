"""TaskManager: what applications call. State changes live in ``_transitions``, one task's run
in ``_run``; the manager owns the ports, the concurrency limit and the runs in flight.

The manager knows the ports, never their adapters (defaults are built in ``_config``).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import AsyncGenerator, Iterable, Mapping, Sequence
from contextlib import aclosing
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TextIO

import anyio
import anyio.abc

from ._bars import execute_with_progress, show_progress
from ._changes import ChangeFeed
from ._checks import (
    check_count,
    check_lease,
    check_optional_seconds,
    check_owner,
    check_page,
    check_positive_int,
    check_priority,
    check_queue,
    check_seconds,
    check_status,
    check_task_id,
)
from ._config import Settings, build_fetcher, build_runner, build_store, build_uploader
from ._defaults import DEFAULT_HEARTBEAT, DEFAULT_LEASE, DEFAULT_RETRY_BACKOFF
from ._deliveries import Delivery
from ._errors import (
    ConfigurationError,
    InvalidTaskError,
    InvalidTransitionError,
    WaitTimeoutError,
)
from ._events import DEFAULT_EVENT_BUFFER, EventStream
from ._expect import Expect, expectations_from
from ._health import SandboxWarning, manager_health
from ._local_runs import LocalRuns
from ._models import Health, Task, TaskStatus, utcnow
from ._notifications import EventCallback, Notifications
from ._policy import CommandPolicy
from ._protocols import Dispatcher, Fetcher, Runner, TaskStore, Uploader
from ._recovery import Recovery
from ._run import RunContext
from ._tables import TaskList
from ._telemetry import Metrics, Telemetry
from ._tracing import current_trace_context
from ._transitions import Transitions
from ._webhook_settings import WebhookSettings
from ._workdir import remove_dead_workdirs

__all__ = ["TaskManager"]

logger = logging.getLogger("ffmpeg_tasks")

#: Wall-clock limit of one run unless the application sets another: twice the default CPU
#: time limit of ffmpeg, so a stuck run (waiting, not computing) ends too.
DEFAULT_TIMEOUT = 2 * 3600.0
#: Longest a worker waits for a retry's time when its job came early (clocks of two hosts
#: disagree); a job further ahead is handed back to the queue.
MAX_EARLY_JOB = 60.0
#: Longest a remote execute() whose caller was cancelled tries to cancel its task.
_CANCEL_ON_EXIT = 10.0


class TaskManager:
    """Registers, runs and reports ffmpeg tasks, in-process.

    Every argument is optional: the defaults keep tasks in memory, fetch ``http(s)`` inputs with
    an SSRF-safe client, run the ffmpeg found on this machine and write outputs to
    ``./ffmpeg-tasks-output``.

    Args:
        store: Where task state lives.
        fetcher: How inputs arrive.
        runner: How ffmpeg runs.
        uploader: Where outputs go.
        policy: What commands are accepted; :meth:`CommandPolicy.strict` unless given.
        max_concurrency: Tasks running at once in this manager; defaults to the number of CPUs
            this process may use.
        timeout: Wall-clock limit of one run (fetch, encode, upload) in seconds: two hours
            unless given, None for none. A task may ask for less at ``register``, never more,
            so a caller cannot lift the limit an application set.
        workdir_root: Parent folder of the per-task work folders; the system temp dir by default.
        progress_interval: Least seconds between two progress writes to the store.
        poll_interval: How often waiters and runs re-read the store for changes made by other
            processes (a cancel from another process stops a run within this many seconds).
        lease: Seconds a run's claim on its task holds unrenewed: once it lapsed (its process
            died, or lost the store), any manager sharing the store recovers the task.
        heartbeat: Seconds between two renewals of a running task's lease, at most half the
            lease; also the longest time between two recovery passes of an open manager.
        retries: How many more attempts an interrupted run gets (put back to ``pending``)
            before recovery fails it; 0 fails it at once.
        retry_backoff: Seconds before the first retry; each further one waits twice as long.
        webhooks: How tasks' events are sent as signed webhooks (the secret, endpoints for
            every task, retries); None sends none. See the webhooks how-to.
        on_event: Awaited with every event this manager makes while it is open, one at a
            time and never in a run's way (see :meth:`events` for the rule of slow readers).
        metrics: Where measurements go, e.g.
            ``ffmpeg_tasks.integrations.prometheus.PrometheusMetrics()``; None for none.
        health_details: Extra facts ``health()`` reports (set by ``from_env``).
        dispatcher: Where started tasks run: in this process when None; a dispatcher such
            as ``ProcrastinateDispatcher`` hands them to worker processes sharing the store
            (``start()`` enqueues, ``execute()`` enqueues and waits).
    """

    def __init__(
        self,
        store: TaskStore | None = None,
        fetcher: Fetcher | None = None,
        runner: Runner | None = None,
        uploader: Uploader | None = None,
        *,
        policy: CommandPolicy | None = None,
        max_concurrency: int | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        workdir_root: str | os.PathLike[str] | None = None,
        progress_interval: float = 0.5,
        poll_interval: float = 0.5,
        lease: float = DEFAULT_LEASE,
        heartbeat: float = DEFAULT_HEARTBEAT,
        retries: int = 0,
        retry_backoff: float = DEFAULT_RETRY_BACKOFF,
        webhooks: WebhookSettings | None = None,
        on_event: EventCallback | None = None,
        metrics: Metrics | None = None,
        health_details: Mapping[str, str] | None = None,
        dispatcher: Dispatcher | None = None,
    ) -> None:
        if max_concurrency is not None:
            check_positive_int(max_concurrency, "max_concurrency")
        progress_interval = check_seconds(progress_interval, "progress_interval", zero_ok=True)
        poll_interval = check_seconds(poll_interval, "poll_interval")
        lease, heartbeat = check_lease(lease, heartbeat)
        retries = check_count(retries, "retries")
        retry_backoff = check_seconds(retry_backoff, "retry_backoff", zero_ok=True)
        if workdir_root is not None and not Path(workdir_root).is_dir():
            raise ConfigurationError(
                f"workdir_root {os.fspath(workdir_root)!r} is not an existing folder; "
                "create it first or leave workdir_root unset for the system temp folder"
            )
        defaults = Settings()
        self._store = store if store is not None else build_store(defaults)
        self._fetcher = fetcher if fetcher is not None else build_fetcher(defaults)
        self._runner = runner if runner is not None else build_runner(defaults)
        self._uploader = uploader if uploader is not None else build_uploader(defaults)
        self._policy = policy if policy is not None else CommandPolicy.strict()
        max_concurrency = max_concurrency or _usable_cpus()
        self._timeout = check_optional_seconds(timeout, "timeout", error=ConfigurationError)
        self._workdir_root = None if workdir_root is None else Path(workdir_root)
        self._health_details = dict(health_details or {})
        self._changes = ChangeFeed(self._store.get, poll_interval=poll_interval)
        self._telemetry = Telemetry(metrics)
        self._notifications = Notifications(
            self._store, settings=webhooks, telemetry=self._telemetry, on_event=on_event
        )
        self._transitions = Transitions(
            self._store, self._changes, lease=lease, events=self._notifications.events
        )
        self._run_context = RunContext(
            policy=self._policy,
            fetcher=self._fetcher,
            runner=self._runner,
            uploader=self._uploader,
            transitions=self._transitions,
            workdir_root=self._workdir_root,
            progress_interval=progress_interval,
            poll_interval=poll_interval,
            heartbeat=heartbeat,
            timeout=self._timeout,
            before_work=SandboxWarning(self.health).once,
            telemetry=self._telemetry,
        )
        self._runs = LocalRuns(self._store, self._run_context, max_concurrency=max_concurrency)
        #: Where started tasks go; this process's own runs unless another was given.
        self._dispatcher: Dispatcher = self._runs if dispatcher is None else dispatcher
        self._remote = dispatcher is not None
        self._recovery = Recovery(
            self._store,
            self._transitions,
            self._runs,
            dispatcher=dispatcher,
            interval=heartbeat,
            retries=retries,
            retry_backoff=retry_backoff,
        )
        self._closed = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> TaskManager:
        """Build a manager configured like the original service (``S3_BUCKET``, ``AWS_*``).

        Without ``S3_BUCKET`` outputs go to a local folder, and ``health()`` says so;
        ``FFMPEG_TASKS_DATABASE`` keeps tasks in a SQLite file that survives restarts. The
        variables are listed on the S3 how-to page. Keyword arguments override what the
        environment would build (``store=``, ``fetcher=``, ``policy=``, ...).

        Raises:
            ConfigurationError: a variable has an unusable value; the message names it.
        """
        from ._config import adapters_from_env  # reads the environment: only when asked
        from ._config.observability import observability_from_env

        env = adapters_from_env(environ)
        for name, value in observability_from_env(environ).items():
            kwargs.setdefault(name, value)
        details = {**env.details, **kwargs.pop("health_details", {})}
        kwargs.setdefault("fetcher", env.fetcher)
        kwargs.setdefault("uploader", env.uploader)
        if env.store is not None:
            kwargs.setdefault("store", env.store)
        for name, value in env.manager.items():
            kwargs.setdefault(name, value)
        if env.dispatcher is not None:
            kwargs.setdefault("dispatcher", env.dispatcher)
        return cls(health_details=details, **kwargs)

    def __repr__(self) -> str:
        dispatcher = f", dispatcher={self._dispatcher!r}" if self._remote else ""
        return (
            f"TaskManager(store={self._store!r}, uploader={self._uploader!r}, "
            f"max_concurrency={self._runs.max_concurrency}{dispatcher})"
        )

    @property
    def policy(self) -> CommandPolicy:
        """The command policy tasks are checked against."""
        return self._policy

    @property
    def metrics(self) -> Metrics | None:
        """Where this manager's measurements go, if anywhere."""
        return self._telemetry.metrics

    # -- lifecycle of the manager ------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._runs.is_open:
            raise ConfigurationError("this TaskManager is open already; enter it only once")
        try:
            await remove_dead_workdirs(self._workdir_root)
            await self._runs.open()
            self._notifications.open(self._runs.start_service)
            await self.recover()
            self._runs.start_service(self._recovery.keep_recovering)
        except BaseException:
            try:
                await self._runs.close()  # (not shielded: it exits the group's own scope)
            finally:
                await self.aclose()  # the manager never opened: release what it holds
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool | None:
        """Cancel tasks still running in the background (they end ``cancelled``), then close.

        An exception raised in the ``async with`` body propagates as it is, not wrapped in an
        exception group: background runs record their own failures and never raise here.
        """
        try:
            await self._runs.close()
        finally:
            await self.aclose()
        return None

    async def recover(self) -> Sequence[Task]:
        """Fail, or put back to ``pending`` for another attempt (``retries``), the tasks whose
        run was interrupted: its lease expired, on any host, or its process of this host died.
        Returns the tasks it changed.

        Opening a manager calls this, and an open manager calls it every ``heartbeat`` and
        when a lease it saw expires; an open manager also starts the retries that are due.
        Runs whose lease holds are never touched. See the stores how-to for the semantics.
        """
        return await self._recovery.recover()

    async def fail_interrupted(self) -> Sequence[Task]:
        """The name :meth:`recover` had before leases and retries; it does the same."""
        return await self.recover()

    async def aclose(self) -> None:
        """Close the adapters. Safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        with anyio.CancelScope(shield=True):
            if self._remote:
                await self._dispatcher.aclose()
            await self._notifications.aclose()
            for resource in (self._fetcher, self._runner, self._uploader, self._store):
                await resource.aclose()

    # -- registration and queries ---------------------------------------------------------------

    async def register(
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
        """Check a task and store it as ``pending``; nothing is downloaded or run yet.

        Args:
            command: ffmpeg's arguments, with or without a leading ``ffmpeg``.
            input_files: Each file name the command reads (``-i NAME``) -> the URL to fetch it from.
            output_filename: The main output: the file the command writes (for an HLS ladder,
                its master playlist); it is uploaded when ffmpeg succeeds.
            outputs: The other files the command writes, uploaded too: exact names,
                ``thumb_%03d.jpg`` sequences and globs such as ``*.ts``.
            expect: What the probed outputs must be like, e.g. ``{"duration": ("in.mp4",
                0.5), "video": 1}`` for the main output; see :class:`Expectation`.
            timeout: Wall-clock limit of the run in seconds, at most the manager's; the
                manager's when None.
            owner: Who registered it (an API key id, a user name), for filtering with ``list``.
            queue: Which workers run it, for a dispatcher that routes by queue (procrastinate);
                the dispatcher's default queue when None. Runs in this process ignore it.
            priority: From -1000 to 1000: among tasks waiting in the same queue, higher
                ones start first (a dispatcher's ordering; runs in this process ignore it).
            webhook_url: Where its events (started, completed, failed, cancelled) are sent as
                signed webhooks, besides the manager's endpoints; the same address rules as
                inputs apply.

        Raises:
            InvalidTaskError: the message says what to fix (a ``webhook_url`` too, for a
                manager that sends no webhooks).
        """
        self._policy.prepare(
            command, input_files=input_files, output_filename=output_filename, outputs=outputs
        )
        patterns = tuple(dict.fromkeys(p for p in outputs if p != output_filename))
        expectations = expectations_from(
            expect, inputs=input_files, outputs=(output_filename, *patterns)
        )
        timeout = check_optional_seconds(timeout, "timeout")
        if timeout is not None and self._timeout is not None and timeout > self._timeout:
            raise InvalidTaskError(
                f"timeout {timeout:g} s is longer than this service allows "
                f"({self._timeout:g} s); ask for {self._timeout:g} s or less"
            )
        check_owner(owner)
        queue = check_queue(queue)
        priority = check_priority(priority)
        for url in input_files.values():
            await self._fetcher.check(url)
        if webhook_url is not None:
            await self._notifications.check_url(webhook_url)
        task = Task(
            command=command,
            input_files=input_files,
            output_filename=output_filename,
            output_patterns=patterns,
            expect=expectations,
            timeout=timeout,
            owner=owner,
            queue=queue,
            priority=priority,
            webhook_url=webhook_url,
            trace_context=current_trace_context(),
        )
        await self._store.create(task)
        return task

    async def get(self, task_id: str) -> Task:
        """The task as last stored.

        Raises:
            TaskNotFoundError: no task has that id.
        """
        return await self._store.get(check_task_id(task_id))

    async def list(
        self,
        status: TaskStatus | str | None = None,
        limit: int = 100,
        *,
        offset: int = 0,
        owner: str | None = None,
    ) -> TaskList:
        """Tasks newest first, optionally only those with ``status`` (and ``owner``); a list
        that Jupyter shows as a table.

        Raises:
            InvalidTaskError: an unknown status, a limit outside 1-1000 or a negative offset.
        """
        check_page(limit, offset)
        return TaskList(
            await self._store.list(
                status=check_status(status), owner=check_owner(owner), limit=limit, offset=offset
            )
        )

    async def counts(self) -> Mapping[TaskStatus, int]:
        """How many tasks the store holds in each status (every status, zeros included)."""
        found = await self._store.counts()
        return {status: found.get(status, 0) for status in TaskStatus}

    async def health(self) -> Health:
        """Whether ffmpeg was found, where, its version, and where outputs go."""
        return manager_health(
            await self._runner.health(),
            store=self._store,
            uploader=self._uploader,
            policy=self._policy,
            timeout=self._timeout,
            details=self._health_details,
        )

    # -- running ------------------------------------------------------------------------------

    async def execute(self, task_id: str, *, progress: bool = False) -> Task:
        """Run a pending task to its end in this coroutine and return its final state; with a
        dispatcher, hand it to a worker and wait for its end. A cancelled caller cancels the
        task.

        A failure while running is recorded on the task (``failed`` with ``error``), not raised.

        Args:
            task_id: The task to run.
            progress: Draw a live progress bar meanwhile, as :meth:`show_progress` does.

        Raises:
            TaskNotFoundError: no task has that id.
            InvalidTransitionError: the task is not pending (running, finished or started).
            ConfigurationError: the dispatcher's queue cannot be reached.
        """
        if progress:
            return await execute_with_progress(self, task_id)
        task = await self._check_startable(task_id)
        if not self._remote:
            return await self._runs.execute(task_id, raise_if_taken=True)
        await self._dispatcher.submit(task)
        try:
            return await self.wait(task_id)
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True), anyio.move_on_after(_CANCEL_ON_EXIT):
                try:
                    await self.cancel(task_id)
                except InvalidTransitionError:
                    pass  # it ended meanwhile
                except Exception:
                    logger.warning("task %s: could not cancel it", task_id, exc_info=True)
            raise

    async def start(self, task_id: str) -> None:
        """Run a pending task in the background (or hand it to the dispatcher's workers) and
        return at once; see :meth:`wait`.

        Raises:
            ConfigurationError: the manager is not open (``async with TaskManager() as m``),
                or the dispatcher's queue cannot be reached.
            TaskNotFoundError: no task has that id.
            InvalidTransitionError: the task is not pending.
        """
        self._runs.check_open()
        task = await self._check_startable(task_id)
        await self._dispatcher.submit(task)

    async def run_dispatched(self, task_id: str) -> Task:
        """Run here a task a dispatcher handed to this process (a worker's job), and return
        it as it ended, or as found when it is no longer pending: cancelled meanwhile, or
        claimed by another worker. A cancellation before the claim leaves it ``pending``.

        A retry waits for its time first (its job came early), up to a minute.

        Raises:
            TaskNotFoundError: no task has that id.
        """
        task = await self._store.get(check_task_id(task_id))
        if self._runs.is_scheduled(task_id):
            return task  # another job of it runs here already
        if task.status is TaskStatus.PENDING and task.retry_at is not None:
            early = (task.retry_at - utcnow()).total_seconds()
            if early > MAX_EARLY_JOB:
                return task
            await anyio.sleep(max(early, 0))
        return await self._runs.execute(task_id, raise_if_taken=False, retry=True)

    async def hand_back(self) -> Sequence[Task]:
        """Stop the runs of this process and put their tasks back to ``pending`` for
        another process (a worker shutting down after its grace period); returns them as
        stored then. Each counts as an attempt; claims wait one ``heartbeat``.
        """
        handed = await self._runs.hand_back()
        return [await self._store.get(task_id) for task_id in handed]

    async def wait(self, task_id: str, timeout: float | None = None) -> Task:
        """Wait until the task is completed, failed or cancelled, and return it.

        Raises:
            TaskNotFoundError: no task has that id.
            WaitTimeoutError: ``timeout`` seconds passed first; the task goes on.
        """
        timeout = check_optional_seconds(timeout, "timeout", zero_ok=True)
        task = await self._store.get(check_task_id(task_id))
        if task.status.is_terminal:
            return task  # also with timeout=0, which asks "has it ended?"
        with anyio.move_on_after(math.inf if timeout is None else timeout):
            async with aclosing(self.watch(task_id)) as changes:
                async for task in changes:
                    if task.status.is_terminal:
                        return task
        raise WaitTimeoutError(
            f"task {task_id!r} did not finish within {timeout:g} s; it goes on running: "
            "wait again, poll it with get(), or cancel() it"
        )

    async def watch(self, task_id: str) -> AsyncGenerator[Task, None]:
        """Yield the task now and after each change (status, phase, progress) until it ends.

        Use it with ``async for``; progress changes arrive at most every ``progress_interval``.

        Raises:
            TaskNotFoundError: no task has that id.
        """
        async with aclosing(self._changes.watch(check_task_id(task_id))) as changes:
            async for task in changes:
                yield task

    async def show_progress(
        self,
        task_ids: str | Iterable[str],
        *,
        timeout: float | None = None,
        summary: bool | None = None,
        file: TextIO | None = None,
    ) -> TaskList:
        """Draw a live progress bar of each task until every one has ended; return them.

        The bars are ``tqdm.auto``'s: widgets in Jupyter, text elsewhere. Each shows the
        run's overall percentage, the phase, ffmpeg's speed and the encode's ETA, then how
        the task ended. The tasks run wherever they were started (``start()``, another
        process sharing the store): this only watches.

        Args:
            task_ids: One task id, or several.
            timeout: Seconds to watch at most.
            summary: One bar for all the tasks (True), a bar each (False), or a bar each up
                to ten tasks and one bar beyond (None).
            file: Where text bars are written; standard error when None.

        Raises:
            TaskNotFoundError: no task has one of the ids.
            WaitTimeoutError: ``timeout`` seconds passed first; the tasks go on.
        """
        return await show_progress(self, task_ids, timeout=timeout, summary=summary, file=file)

    async def cancel(self, task_id: str) -> Task:
        """Stop a pending or running task; it ends ``cancelled``. Returns its final state.

        A running ffmpeg is stopped (SIGINT, then SIGTERM, then SIGKILL to its process group),
        an upload in progress is aborted and leaves nothing behind. A cancel that arrives once
        every output is stored is too late: the task ends ``completed`` and that is returned.

        Raises:
            TaskNotFoundError: no task has that id.
            InvalidTransitionError: the task has ended already.
        """
        while True:
            task = await self._store.get(check_task_id(task_id))
            if task.status.is_terminal:
                raise InvalidTransitionError(
                    f"task {task_id!r} is {task.status.value} already; "
                    "only pending or running tasks can be cancelled",
                    task_id=task_id,
                    status=task.status.value,
                )
            if await self._runs.cancel(task_id):  # a run of this manager
                return await self.wait(task_id)
            running = task.status is TaskStatus.RUNNING
            try:
                # A run in another process notices within its poll_interval and stops.
                ended = await self._transitions.end(
                    task,
                    TaskStatus.CANCELLED,
                    "cancelled" if running else "cancelled before it started",
                )
            except InvalidTransitionError:
                continue  # it changed meanwhile (claimed, finished): look again
            if not running and self._remote:
                try:  # its job would end at its claim anyway: this only tidies the queue
                    await self._dispatcher.withdraw(task_id)
                except Exception:
                    logger.warning("task %s: could not withdraw its job", task_id, exc_info=True)
            return ended

    # -- events and webhooks ------------------------------------------------------------------

    def events(self, *, buffer: int = DEFAULT_EVENT_BUFFER) -> EventStream:
        """Every event this manager makes from now on: ``async with manager.events() as
        events: async for event in events: ...``.

        Runs never wait for a reader: a newer progress event of a task replaces its unread
        one, and beyond ``buffer`` unread events the oldest are dropped (``events.dropped``
        counts them). Changes made by other processes sharing the store are not seen here
        (their webhooks are delivered all the same).

        Raises:
            ConfigurationError: ``buffer`` is not a positive integer.
        """
        return self._notifications.subscribe(check_positive_int(buffer, "buffer"))

    async def deliveries(self, task_id: str) -> Sequence[Delivery]:
        """The task's webhook deliveries, in the order of their events: the state, attempts
        and last answer of each (event, URL).

        Raises:
            TaskNotFoundError: no task has that id.
        """
        await self._store.get(check_task_id(task_id))
        return await self._notifications.deliveries(task_id)

    async def redeliver(self, task_id: str) -> Sequence[Delivery]:
        """Send every event of the task again (delivered, failed or pending alike): each is
        queued due now, with its id, and its retry schedule starts over. Returns them.

        Raises:
            TaskNotFoundError: no task has that id.
        """
        await self._store.get(check_task_id(task_id))
        return await self._notifications.redeliver(task_id)

    async def _check_startable(self, task_id: str) -> Task:
        task = await self._store.get(check_task_id(task_id))
        if task.status is not TaskStatus.PENDING or self._runs.is_scheduled(task_id):
            state = "started" if task.status is TaskStatus.PENDING else task.status.value
            raise InvalidTransitionError(
                f"task {task_id!r} is {state}; only a pending task can be executed, once",
                task_id=task_id,
                status=task.status.value,
            )
        return task


def _usable_cpus() -> int:
    """CPUs this process may run on (a container's or taskset's share), not the machine's."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1
