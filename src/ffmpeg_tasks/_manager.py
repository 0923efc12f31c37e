"""TaskManager: registration, state transitions and orchestration of one task's run.

The manager knows the four ports, never their adapters (defaults are built in ``_defaults``).
Every state change is a conditional transition in the store, so a task runs at most once even
when several processes share the store. The final status of a run is decided in one place
(``_run_claimed``): cancelled -> CANCELLED, exception -> FAILED, otherwise COMPLETED.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import aclosing, nullcontext
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import anyio
import anyio.abc
import attrs

from ._changes import ChangeFeed
from ._checks import check_positive_int, is_seconds
from ._command import parse_command
from ._defaults import default_fetcher, default_runner, default_store, default_uploader
from ._errors import (
    ConfigurationError,
    FetchError,
    FfmpegTasksError,
    InvalidTaskError,
    InvalidTransitionError,
    RunError,
    WaitTimeoutError,
)
from ._models import Health, Output, Progress, Task, TaskPhase, TaskStatus, utcnow
from ._policy import CommandPolicy
from ._protocols import Fetcher, Runner, TaskStore, Uploader
from ._sanitize import sanitize_line, sanitize_stderr
from ._workdir import task_workdir
from ._workers import this_worker, worker_is_gone

__all__ = ["TaskManager"]

logger = logging.getLogger("ffmpeg_tasks")

_FAILED_STEP = {
    TaskPhase.FETCHING: "fetching inputs failed",
    TaskPhase.ENCODING: "ffmpeg failed",
    TaskPhase.UPLOADING: "upload failed",
}
#: What health() and the log say when commands from strangers run without a sandbox.
UNSANDBOXED_WARNING = (
    "ffmpeg runs without a sandbox, so the strict command policy is the only barrier between "
    "callers and this machine: install bubblewrap (apt-get install bubblewrap), or accept this "
    "explicitly (see the sandbox page of the docs)"
)
#: Wall-clock limit of one run unless the application sets another: twice the default CPU
#: time limit of ffmpeg, so a stuck run (waiting, not computing) ends too.
DEFAULT_TIMEOUT = 2 * 3600.0
#: The error of a task whose process died while running it.
_INTERRUPTED = (
    "interrupted: the service running it stopped before it finished; register it again to retry"
)
#: How many of ffmpeg's last stderr lines a failed task's error keeps.
_ERROR_TAIL_LINES = 8


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
        health_details: Extra facts ``health()`` reports (set by ``from_env``).
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
        health_details: Mapping[str, str] | None = None,
    ) -> None:
        if max_concurrency is not None:
            check_positive_int(max_concurrency, "max_concurrency")
        progress_interval = _check_interval(progress_interval, "progress_interval", zero_ok=True)
        poll_interval = _check_interval(poll_interval, "poll_interval", zero_ok=False)
        if workdir_root is not None and not Path(workdir_root).is_dir():
            raise ConfigurationError(
                f"workdir_root {os.fspath(workdir_root)!r} is not an existing folder; "
                "create it first or leave workdir_root unset for the system temp folder"
            )
        self._store = store if store is not None else default_store()
        self._fetcher = fetcher if fetcher is not None else default_fetcher()
        self._runner = runner if runner is not None else default_runner()
        self._uploader = uploader if uploader is not None else default_uploader()
        self._policy = policy if policy is not None else CommandPolicy.strict()
        self._max_concurrency = max_concurrency or _usable_cpus()
        try:
            self._timeout = _check_timeout(timeout, "timeout")
        except InvalidTaskError as exc:
            raise ConfigurationError(str(exc)) from None
        self._workdir_root = None if workdir_root is None else Path(workdir_root)
        self._progress_interval = progress_interval
        self._health_details = dict(health_details or {})
        self._poll_interval = poll_interval
        self._changes = ChangeFeed(self._store.get, poll_interval=poll_interval)
        self._limiter: anyio.CapacityLimiter | None = None
        self._scopes: dict[str, anyio.CancelScope] = {}
        #: The open manager's watcher of its runs is running.
        self._watching = False
        self._scheduled: set[str] = set()
        #: Tasks whose claim this manager is storing right now (no scope yet).
        self._claiming: set[str] = set()
        self._task_group: anyio.abc.TaskGroup | None = None
        self._closed = False
        #: Set while ``async with`` exits: runs cancelled then are cancelled by the shutdown.
        self._closing = False
        self._sandbox_checked = False

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
        from ._config import adapters_from_env

        env = adapters_from_env(environ)
        details = {**env.details, **kwargs.pop("health_details", {})}
        kwargs.setdefault("fetcher", env.fetcher)
        kwargs.setdefault("uploader", env.uploader)
        if env.store is not None:
            kwargs.setdefault("store", env.store)
        return cls(health_details=details, **kwargs)

    def __repr__(self) -> str:
        return (
            f"TaskManager(store={self._store!r}, uploader={self._uploader!r}, "
            f"max_concurrency={self._max_concurrency})"
        )

    @property
    def policy(self) -> CommandPolicy:
        """The command policy tasks are checked against."""
        return self._policy

    # -- lifecycle of the manager ------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._task_group is not None:
            raise ConfigurationError("this TaskManager is open already; enter it only once")
        try:
            await self.fail_interrupted()
        except BaseException:
            await self.aclose()  # the manager never opened: release what it holds
            raise
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
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
        task_group, self._task_group = self._task_group, None
        self._closing = True
        try:
            if task_group is not None:
                task_group.cancel_scope.cancel()
                await task_group.__aexit__(None, None, None)
        finally:
            await self.aclose()
        return None

    async def fail_interrupted(self) -> Sequence[Task]:
        """Mark ``failed`` the tasks left ``running`` by a process of this host that died.

        A service killed outright (``kill -9``, a crash, a reboot) cannot record the end of its
        runs, and a store that outlives it (SQLite) would show them running forever. Opening a
        manager (``async with``) calls this; runs of live processes, and of other hosts, are
        left alone. Returns the tasks it marked.
        """
        interrupted: list[Task] = []
        offset = 0
        while True:
            page = await self._store.list(status=TaskStatus.RUNNING, limit=1000, offset=offset)
            interrupted += [task for task in page if worker_is_gone(task.worker)]
            if len(page) < 1000:
                break
            offset += len(page)
        marked = []
        for task in interrupted:
            try:
                marked.append(await self._end(task, TaskStatus.FAILED, _INTERRUPTED))
            except InvalidTransitionError:
                continue  # another process got there first
            logger.warning("task %s: %s", task.id, _INTERRUPTED)
        return marked

    async def aclose(self) -> None:
        """Close the adapters. Safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        with anyio.CancelScope(shield=True):
            for resource in (self._fetcher, self._runner, self._uploader, self._store):
                await resource.aclose()

    # -- registration and queries ---------------------------------------------------------------

    async def register(
        self,
        command: str,
        input_files: Mapping[str, str],
        output_filename: str,
        *,
        timeout: float | None = None,
        owner: str | None = None,
    ) -> Task:
        """Check a task and store it as ``pending``; nothing is downloaded or run yet.

        Args:
            command: ffmpeg's arguments, with or without a leading ``ffmpeg``.
            input_files: Each file name the command reads (``-i NAME``) -> the URL to fetch it from.
            output_filename: The file the command writes; it is uploaded when ffmpeg succeeds.
            timeout: Wall-clock limit of the run in seconds, at most the manager's; the
                manager's when None.
            owner: Who registered it (an API key id, a user name), for filtering with ``list``.

        Raises:
            InvalidTaskError: the message says what to fix.
        """
        parsed = parse_command(command, input_files, output_filename)
        self._policy.check(parsed, input_files=input_files, output_filename=output_filename)
        timeout = _check_timeout(timeout, "timeout")
        if timeout is not None and self._timeout is not None and timeout > self._timeout:
            raise InvalidTaskError(
                f"timeout {timeout:g} s is longer than this service allows "
                f"({self._timeout:g} s); ask for {self._timeout:g} s or less"
            )
        if owner is not None and not isinstance(owner, str):
            raise InvalidTaskError(f"owner must be a string, got {type(owner).__name__}")
        for url in input_files.values():
            await self._fetcher.check(url)
        task = Task(
            command=command,
            input_files=input_files,
            output_filename=output_filename,
            timeout=timeout,
            owner=owner,
        )
        await self._store.create(task)
        return task

    async def get(self, task_id: str) -> Task:
        """The task as last stored.

        Raises:
            TaskNotFoundError: no task has that id.
        """
        return await self._store.get(_check_id(task_id))

    async def list(
        self,
        status: TaskStatus | str | None = None,
        limit: int = 100,
        *,
        offset: int = 0,
        owner: str | None = None,
    ) -> Sequence[Task]:
        """Tasks newest first, optionally only those with ``status`` (and ``owner``).

        Raises:
            InvalidTaskError: an unknown status or a limit outside 1-1000.
        """
        if status is not None:
            try:
                status = TaskStatus(status)
            except ValueError:
                allowed = ", ".join(s.value for s in TaskStatus)
                raise InvalidTaskError(f"unknown status {status!r}; use one of {allowed}") from None
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise InvalidTaskError(f"limit must be an integer from 1 to 1000, got {limit!r}")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise InvalidTaskError(f"offset must be a non-negative integer, got {offset!r}")
        if owner is not None and not isinstance(owner, str):
            raise InvalidTaskError(f"owner must be a string or None, got {type(owner).__name__}")
        return await self._store.list(status=status, owner=owner, limit=limit, offset=offset)

    async def health(self) -> Health:
        """Whether ffmpeg was found, where, its version, and where outputs go."""
        health = await self._runner.health()
        details = {
            **health.details,
            "store": repr(self._store),
            "policy": "trusted" if self._policy.is_trusted else "strict",
            "task_timeout": "none" if self._timeout is None else f"{self._timeout:g} s",
            **self._health_details,
        }
        warnings = health.warnings
        if health.ffmpeg_found and health.sandbox is None and not self._policy.is_trusted:
            warnings += (UNSANDBOXED_WARNING,)
        return attrs.evolve(
            health, uploader=repr(self._uploader), details=details, warnings=warnings
        )

    async def _warn_once_if_unsandboxed(self) -> None:
        """Say it in the log the first time a strict manager runs ffmpeg without a sandbox."""
        if self._sandbox_checked:
            return
        self._sandbox_checked = True
        try:
            health = await self.health()
        except Exception:  # a warning must not fail the task: the run reports real problems
            logger.warning("could not check whether ffmpeg is sandboxed", exc_info=True)
            return
        if UNSANDBOXED_WARNING in health.warnings:
            logger.warning("%s", UNSANDBOXED_WARNING)

    # -- running ------------------------------------------------------------------------------

    async def execute(self, task_id: str) -> Task:
        """Run a pending task to its end in this coroutine and return its final state.

        A failure while running is recorded on the task (``failed`` with ``error``), not raised.

        Raises:
            TaskNotFoundError: no task has that id.
            InvalidTransitionError: the task is not pending (running, finished or started).
        """
        await self._check_startable(task_id)
        return await self._execute(task_id, raise_if_taken=True)

    async def start(self, task_id: str) -> None:
        """Run a pending task in the background and return at once; see :meth:`wait`.

        Raises:
            ConfigurationError: the manager is not open (``async with TaskManager() as m``).
            TaskNotFoundError: no task has that id.
            InvalidTransitionError: the task is not pending.
        """
        if self._task_group is None:
            raise ConfigurationError(
                "start() runs tasks in the background and needs an open manager: "
                "use 'async with TaskManager(...) as manager', or call execute() instead"
            )
        await self._check_startable(task_id)
        self._scheduled.add(task_id)
        self._task_group.start_soon(self._execute_in_background, task_id)

    async def wait(self, task_id: str, timeout: float | None = None) -> Task:
        """Wait until the task is completed, failed or cancelled, and return it.

        Raises:
            TaskNotFoundError: no task has that id.
            WaitTimeoutError: ``timeout`` seconds passed first; the task goes on.
        """
        timeout = _check_timeout(timeout, "timeout", zero_ok=True)
        task = await self._store.get(_check_id(task_id))
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
        async with aclosing(self._changes.watch(_check_id(task_id))) as changes:
            async for task in changes:
                yield task

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
            task = await self._store.get(_check_id(task_id))
            if task.status.is_terminal:
                raise InvalidTransitionError(
                    f"task {task_id!r} is {task.status.value} already; "
                    "only pending or running tasks can be cancelled",
                    task_id=task_id,
                    status=task.status.value,
                )
            scope = self._scopes.get(task_id)
            if scope is not None:
                scope.cancel()
                return await self.wait(task_id)
            if task.status is TaskStatus.RUNNING and task_id in self._claiming:
                # This manager's claim is being stored; its run registers its scope next.
                await anyio.sleep(0.001)
                continue
            running = task.status is TaskStatus.RUNNING
            try:
                # A run in another process notices within its poll_interval and stops.
                return await self._end(
                    task,
                    TaskStatus.CANCELLED,
                    "cancelled" if running else "cancelled before it started",
                )
            except InvalidTransitionError:
                continue  # it changed meanwhile (claimed, finished): look again

    async def _check_startable(self, task_id: str) -> None:
        task = await self._store.get(_check_id(task_id))
        if task.status is not TaskStatus.PENDING or task_id in self._scheduled:
            state = "started" if task.status is TaskStatus.PENDING else task.status.value
            raise InvalidTransitionError(
                f"task {task_id!r} is {state}; only a pending task can be executed, once",
                task_id=task_id,
                status=task.status.value,
            )

    async def _execute_in_background(self, task_id: str) -> None:
        try:
            await self._execute(task_id, raise_if_taken=False)
        except Exception:
            logger.exception("task %s could not be run", task_id)

    async def _execute(self, task_id: str, *, raise_if_taken: bool) -> Task:
        self._scheduled.add(task_id)
        claim: Task | None = None
        claimed = False
        try:
            async with self._slots():
                task = await self._store.get(task_id)
                claim = attrs.evolve(
                    task,
                    status=TaskStatus.RUNNING,
                    phase=TaskPhase.FETCHING,
                    started_at=utcnow(),
                    worker=this_worker(),
                )
                self._claiming.add(task_id)
                try:
                    await self._store.update(claim, expected=TaskStatus.PENDING)
                except InvalidTransitionError:
                    self._claiming.discard(task_id)
                    current = await self._store.get(task_id)
                    if raise_if_taken and current.status is not TaskStatus.CANCELLED:
                        raise
                    return current  # cancelled while queued, or another worker took it
                claimed = True
                self._changes.publish(task_id)
                return await self._run_claimed(claim)
        except anyio.get_cancelled_exc_class():
            if not claimed:
                with anyio.CancelScope(shield=True):
                    await self._cancel_unstarted(task_id, claim)
            raise
        finally:
            self._claiming.discard(task_id)
            self._scheduled.discard(task_id)

    def _interrupted_by(self) -> str:
        if self._closing:
            return "the manager is shutting down"
        return "its caller was cancelled (a timeout, a closed request, a service shutting down)"

    async def _cancel_unstarted(self, task_id: str, claim: Task | None) -> None:
        """A run stopped before it began (queued when the manager closed, or its caller was
        cancelled) ends ``cancelled``, not ``pending`` or ``running`` with nothing to finish it.

        ``claim`` is what this run tried to store: when the store took it before the
        cancellation arrived, the task is ours to end.
        """
        try:
            task = await self._store.get(task_id)
            ours = (
                claim is not None
                and task.status is TaskStatus.RUNNING
                and task.worker == claim.worker  # unique to this claim
            )
            if task.status is TaskStatus.PENDING or ours:
                error = f"cancelled before it started: {self._interrupted_by()}"
                await self._end(task, TaskStatus.CANCELLED, error)
            # else: run by another process, or ended already
        except InvalidTransitionError:
            return  # another process took it meanwhile: it runs there
        except Exception:
            logger.warning("task %s: could not record its cancellation", task_id, exc_info=True)

    async def _end(self, task: Task, status: TaskStatus, error: str) -> Task:
        """Store the end of a task no run of this manager will finish: a cancel, a run that
        never started, a dead process's run. Conditional on the status ``task`` was read with.

        Raises:
            InvalidTransitionError: the task changed meanwhile.
        """
        ended = attrs.evolve(task, status=status, phase=None, error=error, finished_at=utcnow())
        await self._store.update(ended, expected=task.status)
        self._changes.publish(task.id)
        return ended

    def _slots(self) -> anyio.CapacityLimiter:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self._max_concurrency)
        return self._limiter

    async def _run_claimed(self, task: Task) -> Task:
        # No await between the claim and the try below: whatever happens from here on, the
        # task gets a final status, and cancel() finds the scope.
        scope = anyio.CancelScope()
        self._scopes[task.id] = scope
        self._claiming.discard(task.id)
        run = _Run(self, task)
        # The manager's limit holds for tasks stored by another, looser manager too.
        limits = [t for t in (task.timeout, self._timeout) if t is not None]
        limit = min(limits) if limits else None
        status, error = TaskStatus.FAILED, None
        try:
            with scope, anyio.fail_after(limit) if limit is not None else nullcontext():
                await self._warn_once_if_unsandboxed()
                await self._work_until_cancelled_elsewhere(run, scope)
            # Once every output is stored the task is done: a cancel arriving after that is
            # too late, and reporting "cancelled" would hide outputs that exist.
            cancelled = scope.cancelled_caught and not run.uploaded
            status = TaskStatus.CANCELLED if cancelled else TaskStatus.COMPLETED
            error = "cancelled" if cancelled else None
        except FfmpegTasksError as exc:
            if isinstance(exc, RunError):
                run.log = exc.stderr_tail
            error = _describe_failure(run.phase, exc, run.workdir)
        except TimeoutError as exc:
            if run.uploaded:  # the limit struck after the work was done
                status = TaskStatus.COMPLETED
            elif limit is None:
                error = f"{_FAILED_STEP[run.phase]}: {exc or 'timed out'}"
            else:
                error = f"timed out after {limit:g} s while {run.phase.value}"
        except Exception as exc:
            logger.exception("task %s failed unexpectedly", task.id)
            error = f"{_FAILED_STEP[run.phase]}: internal error ({type(exc).__name__}: {exc})"
        except BaseException:
            if run.uploaded:  # stopped after the work was done: it is done
                status, error = TaskStatus.COMPLETED, None
            else:
                status, error = TaskStatus.CANCELLED, f"cancelled: {self._interrupted_by()}"
            raise
        finally:
            del self._scopes[task.id]
            with anyio.CancelScope(shield=True):
                final = await self._finish(task.id, status, error, run.outputs, run.log)
        return final

    async def _work_until_cancelled_elsewhere(self, run: _Run, scope: anyio.CancelScope) -> None:
        """Run the task while watching the store: another process sharing it may cancel it.

        In an open manager one watcher looks at every run of this manager (its scopes); a run
        of a manager that is not open (``execute`` outside ``async with``) watches itself.
        """
        if self._task_group is not None:
            if not self._watching:
                self._watching = True
                self._task_group.start_soon(self._cancel_runs_no_longer_running)
            await run.work()
            return
        failure: Exception | None = None
        async with anyio.create_task_group() as group:
            group.start_soon(self._cancel_when_no_longer_running, run.task_id, scope)
            try:
                await run.work()
            except Exception as exc:  # noqa: BLE001 - re-raised below, unwrapped
                failure = exc
            finally:
                group.cancel_scope.cancel()
        if failure is not None:
            raise failure

    async def _cancel_runs_no_longer_running(self) -> None:
        """The watcher of an open manager's runs; it ends when no run is left to watch."""
        try:
            while self._scopes:
                await anyio.sleep(self._poll_interval)
                for task_id, scope in list(self._scopes.items()):
                    try:
                        task = await self._store.get(task_id)
                    except Exception:
                        logger.warning(
                            "task %s: could not re-read its status", task_id, exc_info=True
                        )
                        continue
                    if task.status is not TaskStatus.RUNNING:
                        scope.cancel()
        finally:
            self._watching = False

    async def _cancel_when_no_longer_running(self, task_id: str, scope: anyio.CancelScope) -> None:
        while True:
            await anyio.sleep(self._poll_interval)
            try:
                task = await self._store.get(task_id)
            except Exception:
                logger.warning("task %s: could not re-read its status", task_id, exc_info=True)
                continue
            if task.status is not TaskStatus.RUNNING:
                scope.cancel()
                return

    async def _finish(
        self,
        task_id: str,
        status: TaskStatus,
        error: str | None,
        outputs: Sequence[Output],
        log: str | None,
    ) -> Task:
        current = await self._store.get(task_id)
        final = attrs.evolve(
            current,
            status=status,
            phase=None,
            error=error,
            log=log,
            outputs=tuple(outputs) if status is TaskStatus.COMPLETED else (),
            progress=1.0 if status is TaskStatus.COMPLETED else current.progress,
            finished_at=utcnow(),
        )
        try:
            await self._store.update(final, expected=TaskStatus.RUNNING)
        except InvalidTransitionError:
            final = await self._store.get(task_id)  # cancelled from another process meanwhile
        self._changes.publish(task_id)
        return final

    async def _save_running(self, task: Task) -> None:
        """Store a change of phase or progress; stop the run if the task was cancelled elsewhere."""
        try:
            await self._store.update(task, expected=TaskStatus.RUNNING)
        except InvalidTransitionError:
            scope = self._scopes.get(task.id)
            if scope is not None:
                scope.cancel()
            return
        self._changes.publish(task.id)


class _Run:
    """One run of one task: fetch, encode, upload, in a private work folder."""

    def __init__(self, manager: TaskManager, task: Task) -> None:
        self._manager = manager
        self._task = task
        #: The task this run belongs to.
        self.task_id = task.id
        self._last_progress_write = -math.inf
        #: The step in progress, for error messages.
        self.phase = TaskPhase.FETCHING
        #: What the uploader stored.
        self.outputs: list[Output] = []
        #: Every output is stored: the task has done its work.
        self.uploaded = False
        #: ffmpeg's stderr tail, once it ran.
        self.log: str | None = None
        #: The private work folder, once made (its path is kept out of error messages).
        self.workdir: Path | None = None

    async def work(self) -> None:
        manager, task = self._manager, self._task
        parsed = parse_command(task.command, task.input_files, task.output_filename)
        # Again, not only at register: the store may be shared with a looser policy.
        manager._policy.check(
            parsed, input_files=task.input_files, output_filename=task.output_filename
        )
        args = manager._policy.build_args(parsed, output_filename=task.output_filename)
        async with task_workdir(task.id, root=manager._workdir_root) as workdir:
            self.workdir = workdir
            await self._fetch_inputs(workdir)
            await self._enter(TaskPhase.ENCODING, progress=None)  # known once ffmpeg says
            self.log = await manager._runner.run(
                args, workdir=workdir, on_progress=self._on_progress
            )
            output = workdir / task.output_filename
            if not output.is_file():
                raise RunError(f"ffmpeg finished but wrote no {task.output_filename!r}")
            await self._enter(TaskPhase.UPLOADING, progress=1.0)
            self.outputs.append(
                await manager._uploader.upload(output, task_id=task.id, name=task.output_filename)
            )
            self.uploaded = True

    async def _enter(self, phase: TaskPhase, *, progress: float | None) -> None:
        self.phase = phase
        self._task = attrs.evolve(self._task, phase=phase, progress=progress)
        await self._manager._save_running(self._task)

    async def _fetch_inputs(self, workdir: Path) -> None:
        """Fetch every input at once; the first failure stops the others."""
        if len(self._task.input_files) == 1:  # nothing to do at once: no task group
            ((name, url),) = self._task.input_files.items()
            try:
                await self._manager._fetcher.fetch(url, destination=workdir / name)
            except FfmpegTasksError:
                raise
            except Exception as exc:  # noqa: BLE001 - an adapter bug still fails only this task
                raise FetchError(f"input {name!r}: {type(exc).__name__}: {exc}") from None
            return
        failures: list[FfmpegTasksError] = []

        async def fetch(name: str, url: str, group: anyio.abc.TaskGroup) -> None:
            try:
                await self._manager._fetcher.fetch(url, destination=workdir / name)
            except FfmpegTasksError as exc:
                failures.append(exc)
                group.cancel_scope.cancel()
            except Exception as exc:  # noqa: BLE001 - an adapter bug still fails only this task
                failures.append(FetchError(f"input {name!r}: {type(exc).__name__}: {exc}"))
                group.cancel_scope.cancel()

        async with anyio.create_task_group() as group:
            for name, url in self._task.input_files.items():
                group.start_soon(fetch, name, url, group)
        if failures:
            raise failures[0]

    async def _on_progress(self, progress: Progress) -> None:
        now = anyio.current_time()
        interval = self._manager._progress_interval
        if not progress.done and now - self._last_progress_write < interval:
            return
        fraction = progress.fraction
        if fraction is None or fraction == self._task.progress:
            return
        self._last_progress_write = now
        self._task = attrs.evolve(self._task, progress=fraction)
        await self._manager._save_running(self._task)


def _describe_failure(phase: TaskPhase, exc: FfmpegTasksError, workdir: Path | None) -> str:
    """The step that failed and why; what ffmpeg printed is sanitised (the raw tail is the log)."""
    if isinstance(exc, InvalidTaskError):
        return f"refused by this manager's command policy: {exc}"
    if not isinstance(exc, RunError):
        return f"{_FAILED_STEP[phase]}: {exc}"
    message = f"{_FAILED_STEP[phase]}: {sanitize_line(str(exc), workdir=workdir)}"
    tail = sanitize_stderr(exc.stderr_tail, workdir=workdir, max_lines=_ERROR_TAIL_LINES)
    return f"{message}\nffmpeg's last output:\n{tail}" if tail else message


def _usable_cpus() -> int:
    """CPUs this process may run on (a container's or taskset's share), not the machine's."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def _check_id(task_id: object) -> str:
    if not isinstance(task_id, str) or not task_id:
        raise InvalidTaskError(f"task id must be a non-empty string, got {task_id!r}")
    return task_id


def _check_interval(value: object, name: str, *, zero_ok: bool) -> float:
    if not is_seconds(value, zero_ok=zero_ok):
        kind = "zero or more" if zero_ok else "a positive number of"
        raise ConfigurationError(f"{name} must be {kind} seconds, got {value!r}")
    return float(value)


def _check_timeout(value: object, name: str, *, zero_ok: bool = False) -> float | None:
    if value is None:
        return None
    if not is_seconds(value, zero_ok=zero_ok):
        kind = "zero or more" if zero_ok else "a positive number of"
        raise InvalidTaskError(f"{name} must be {kind} seconds or None, got {value!r}")
    return float(value)
