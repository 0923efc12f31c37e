"""One run of one claimed task: fetch, encode, upload in a private work folder, then the final
status, decided in one place: cancelled -> CANCELLED, exception -> FAILED, else COMPLETED."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from contextlib import nullcontext
from pathlib import Path

import anyio
import anyio.abc
import attrs

from ._errors import FetchError, FfmpegTasksError, InvalidTaskError, OutputError, RunError
from ._estimates import encode_eta, overall_fraction
from ._expect import check_expectations
from ._media import MediaInfo
from ._media_types import content_type
from ._models import Output, Progress, Task, TaskPhase, TaskStatus
from ._output_files import OutputFile, collect_outputs
from ._patterns import Pattern, declared_patterns
from ._policy import CommandPolicy
from ._protocols import Fetcher, Runner, Uploader
from ._publish import upload_all
from ._sanitize import sanitize_line, sanitize_stderr
from ._telemetry import Telemetry
from ._transitions import Transitions
from ._usage import measured
from ._workdir import task_workdir

__all__ = ["RunContext", "TaskRun"]

logger = logging.getLogger("ffmpeg_tasks")

#: The step after ffmpeg: collecting, hashing and probing the outputs.
CHECKING = "checking outputs"
#: Each step of a run (the phases, and checking the outputs, which the task shows as the end
#: of encoding) -> how its failure starts.
_FAILED_STEP = {
    TaskPhase.FETCHING.value: "fetching inputs failed",
    TaskPhase.ENCODING.value: "ffmpeg failed",
    CHECKING: "checking outputs failed",
    TaskPhase.UPLOADING.value: "upload failed",
}
#: How many of ffmpeg's last stderr lines a failed task's error keeps.
_ERROR_TAIL_LINES = 8


@attrs.frozen(kw_only=True)
class RunContext:
    """What every run of one manager needs, handed over explicitly."""

    policy: CommandPolicy
    fetcher: Fetcher
    runner: Runner
    uploader: Uploader
    transitions: Transitions
    #: Parent of the work folders; the system temp folder when None.
    workdir_root: Path | None
    #: Least seconds between two progress writes.
    progress_interval: float
    #: How often a run re-reads the store to notice a cancel from another process.
    poll_interval: float
    #: How often a run renews its lease (the lease itself is ``transitions.lease``).
    heartbeat: float
    #: The manager's wall-clock limit of a run, a ceiling for the task's own.
    timeout: float | None
    #: Awaited first inside every run (the manager's once-only sandbox warning).
    before_work: Callable[[], Awaitable[None]]
    #: Spans, measurements and the log context of every run.
    telemetry: Telemetry = attrs.field(factory=Telemetry)


class TaskRun:
    """Runs one claimed task to its final status; see :meth:`run`.

    Args:
        context: The manager's ports and settings.
        task: The task as claimed.
        scope: Cancelled by whoever stops this run (``cancel()``, a lost claim).
        interrupted_by: Why a cancellation from outside the run happened, for the error.
    """

    def __init__(
        self,
        context: RunContext,
        task: Task,
        *,
        scope: anyio.CancelScope,
        interrupted_by: Callable[[], str],
    ) -> None:
        self._context = context
        self._task = task
        self._scope = scope
        self._interrupted_by = interrupted_by
        self._last_progress_write = -math.inf
        #: Keeps this run's phase and progress writes in order.
        self._saving = anyio.Lock()
        #: The step in progress, for error messages: the phase's name, or CHECKING.
        self._step = TaskPhase.FETCHING.value
        self._outputs: list[Output] = []
        #: Every output is stored: the task has done its work.
        self._uploaded = False
        #: ffmpeg's stderr tail, once it ran.
        self._log: str | None = None
        #: The private work folder, once made (its path is kept out of error messages).
        self._workdir: Path | None = None
        #: When (``anyio.current_time``) the last write that renewed the lease began.
        self._renewed = anyio.current_time()
        #: The lease ran out before it could be renewed (the store unreachable): the task may
        #: be another attempt's by now, so this run stores nothing more.
        self._lost = False

    async def run(self) -> Task:
        """Do the work and store the final state, which is returned. Never raises a failure
        (it is recorded on the task); a cancellation of the caller propagates once recorded.

        Its span, measurements and log context (``task_id``, ``owner``) cover it all."""
        with self._context.telemetry.run(self._task) as observed:
            final = await self._run()
            observed.ended(final, step=self._step)
        return final

    async def _run(self) -> Task:
        task, context, scope = self._task, self._context, self._scope
        # The manager's limit holds for tasks stored by another, looser manager too.
        limits = [t for t in (task.timeout, context.timeout) if t is not None]
        limit = min(limits) if limits else None
        status, error = TaskStatus.FAILED, None
        try:
            with scope, anyio.fail_after(limit) if limit is not None else nullcontext():
                await context.before_work()
                await self._work_until_cancelled_elsewhere()
            # Once every output is stored the task is done: a cancel arriving after that is
            # too late, and reporting "cancelled" would hide outputs that exist.
            cancelled = scope.cancelled_caught and not self._uploaded
            status = TaskStatus.CANCELLED if cancelled else TaskStatus.COMPLETED
            error = "cancelled" if cancelled else None
        except FfmpegTasksError as exc:
            if isinstance(exc, RunError):
                self._log = exc.stderr_tail
            error = describe_failure(self._step, exc, self._workdir)
        except TimeoutError as exc:
            if self._uploaded:  # the limit struck after the work was done
                status = TaskStatus.COMPLETED
            elif limit is None:
                error = f"{_FAILED_STEP[self._step]}: {exc or 'timed out'}"
            else:
                error = f"timed out after {limit:g} s while {self._step}"
        except Exception as exc:
            logger.exception("task %s failed unexpectedly", task.id)
            error = f"{_FAILED_STEP[self._step]}: internal error ({type(exc).__name__}: {exc})"
        except BaseException:
            if self._uploaded:  # stopped after the work was done: it is done
                status, error = TaskStatus.COMPLETED, None
            else:
                status, error = TaskStatus.CANCELLED, f"cancelled: {self._interrupted_by()}"
            raise
        finally:
            with anyio.CancelScope(shield=True):
                if self._lost:  # recovery decides: failed, or another attempt
                    final = await self._as_stored()
                else:
                    final = await context.transitions.finish(
                        task.id,
                        status,
                        error,
                        worker=task.worker,
                        outputs=self._outputs,
                        log=self._log,
                    )
        return final

    async def _work_until_cancelled_elsewhere(self) -> None:
        """Do the work while keeping the claim: another process sharing the store may cancel
        the task, or recover it once the lease lapsed."""
        failure: Exception | None = None
        async with anyio.create_task_group() as group:
            group.start_soon(self._keep_the_claim)
            try:
                await self._work()
            except Exception as exc:  # noqa: BLE001 - re-raised below, unwrapped
                failure = exc
            finally:
                group.cancel_scope.cancel()
        if failure is not None:
            raise failure

    async def _as_stored(self) -> Task:
        """The task as the store has it now, or as this run last saw it if it cannot say."""
        try:
            return await self._context.transitions.current(self._task.id)
        except Exception:
            logger.warning("task %s: could not re-read it", self._task.id, exc_info=True)
            return self._task

    async def _keep_the_claim(self) -> None:
        """Renew the lease every heartbeat and re-read the store every poll interval; stop
        the run once its claim no longer holds the task, or the lease ran out unrenewed."""
        context, task_id = self._context, self._task.id
        while True:
            await anyio.sleep(min(context.poll_interval, context.heartbeat))
            started = anyio.current_time()
            left = context.transitions.lease - (started - self._renewed)
            try:
                with anyio.fail_after(max(left, context.poll_interval)):  # a hung store counts
                    if started - self._renewed >= context.heartbeat:
                        held = await self._renew()
                    else:
                        held = await context.transitions.holds(self._task)
            except Exception:
                if anyio.current_time() - self._renewed < context.transitions.lease:
                    logger.warning(
                        "task %s: could not check or renew its claim", task_id, exc_info=True
                    )
                    continue
                logger.exception(
                    "task %s: its lease ran out before it could be renewed; the run stops and "
                    "stores nothing, recovery fails or retries the task",
                    task_id,
                )
                self._lost = True
                held = False
            if not held:
                self._scope.cancel()
                return

    async def _renew(self) -> bool:
        started = anyio.current_time()
        held = await self._context.transitions.save_running(self._task, publish=False)
        if held:
            self._renewed = started
        return held

    async def _work(self) -> None:
        context, task = self._context, self._task
        # Again, not only at register: the store may be shared with a looser policy.
        args = context.policy.prepare(
            task.command,
            input_files=task.input_files,
            output_filename=task.output_filename,
            outputs=task.output_patterns,
        )
        patterns = declared_patterns(task.output_filename, task.output_patterns, task.input_files)
        async with task_workdir(task.id, root=context.workdir_root) as workdir:
            self._workdir = workdir
            telemetry = context.telemetry
            with telemetry.step("fetch"):
                await self._fetch_inputs(workdir)
            await self._enter(TaskPhase.ENCODING, progress=None)  # known once ffmpeg says
            with telemetry.step("encode"), measured() as cpu:
                try:
                    self._log = await context.runner.run(
                        args, workdir=workdir, on_progress=self._on_progress
                    )
                finally:
                    telemetry.ffmpeg_cpu(cpu.seconds)
            if not await anyio.Path(workdir / task.output_filename).is_file():
                raise RunError(f"ffmpeg finished but wrote no {task.output_filename!r}")
            self._step = CHECKING  # shown as the end of encoding: the phases stay three
            with telemetry.step("check"):
                files, facts = await self._check_outputs(workdir, patterns)
            await self._enter(TaskPhase.UPLOADING, progress=1.0)

            def stored_all(stored: list[Output]) -> None:
                # the facts of the files as read here, whatever the uploader reported
                self._outputs.extend(
                    attrs.evolve(
                        output,
                        content_type=content_type(output.name),
                        sha256=facts[output.name][0],
                        media=facts[output.name][1],
                    )
                    for output in stored
                )
                self._uploaded = True

            with telemetry.step("upload"):
                stored = await upload_all(
                    context.uploader,
                    files,
                    task_id=upload_id(task),
                    stored_all=stored_all,
                    stored_part=self._on_upload_progress,
                )
            telemetry.uploaded(sum(output.size for output in stored))

    async def _check_outputs(
        self, workdir: Path, patterns: tuple[Pattern, ...]
    ) -> tuple[list[OutputFile], dict[str, tuple[str, MediaInfo | None]]]:
        """Collect the outputs (caps, hashes), probe them and check the expectations; return
        them with each one's hash and media facts."""
        task, policy = self._task, self._context.policy
        files = await anyio.to_thread.run_sync(
            lambda: collect_outputs(
                workdir,
                patterns=patterns,
                inputs=task.input_files,
                max_files=policy.max_output_files,
                max_total_bytes=policy.max_total_output_bytes,
            ),
            abandon_on_cancel=True,
        )
        references = [e.input_reference for e in task.expect if e.input_reference is not None]
        inputs = list(dict.fromkeys(references))
        names = [file.name for file in files]
        probed = await self._context.runner.probe([*names, *inputs], workdir=workdir)
        if probed is None and task.expect:
            raise OutputError(
                "this service cannot probe outputs (its runner has no ffprobe and no PyAV), "
                "so the task's expectations cannot be checked"
            )
        media = dict(zip([*names, *inputs], probed or [None] * len(names), strict=False))
        check_expectations(
            task.expect,
            main=task.output_filename,
            outputs={name: media.get(name) for name in names},
            patterns=patterns,
            inputs={name: media.get(name) for name in inputs},
        )
        return files, {file.name: (file.sha256, media.get(file.name)) for file in files}

    async def _enter(self, phase: TaskPhase, *, progress: float | None) -> None:
        self._step = phase.value
        entered = attrs.evolve(self._task, phase=phase, progress=progress, eta=None)
        await self._save(self._advanced(phase, 0.0, entered))

    def _advanced(self, phase: TaskPhase, done: float, task: Task | None = None) -> Task:
        """``task`` (the run's) with its overall progress at ``done`` of ``phase``, never
        behind what this attempt reported already."""
        overall = max(self._task.overall_progress or 0.0, overall_fraction(phase, done))
        return attrs.evolve(task or self._task, overall_progress=overall)

    def _progress_due(self, *, final: bool = False) -> bool:
        """Whether a progress write may happen now (``progress_interval`` since the last)."""
        now = anyio.current_time()
        if not final and now - self._last_progress_write < self._context.progress_interval:
            return False
        self._last_progress_write = now
        return True

    async def _save(self, task: Task) -> None:
        """Store a new phase or progress (which renews the lease too)."""
        async with self._saving:
            self._task = task
            started = anyio.current_time()
            try:
                held = await self._context.transitions.save_running(task)
            except Exception:  # the store is unreachable: the heartbeat decides when that's fatal
                logger.warning("task %s: could not store its progress", task.id, exc_info=True)
                return
            if held:
                self._renewed = started
            else:
                self._scope.cancel()  # cancelled or recovered elsewhere

    async def _fetch_inputs(self, workdir: Path) -> None:
        """Fetch every input at once; the first failure stops the others."""
        failures: list[FfmpegTasksError] = []
        fetcher = self._context.fetcher
        inputs = len(self._task.input_files)
        fetched = 0

        async def fetch(name: str, url: str, group: anyio.abc.TaskGroup) -> None:
            nonlocal fetched
            try:
                self._context.telemetry.fetched(
                    await fetcher.fetch(url, destination=workdir / name)
                )
                fetched += 1
                # the last one is reported by entering the encoding phase
                if fetched < inputs and self._progress_due():
                    await self._save(self._advanced(TaskPhase.FETCHING, fetched / inputs))
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
        if not self._progress_due(final=progress.done):
            return
        current = self._task
        if progress.speed is None:  # ffmpeg may say N/A between two reports: keep the last
            progress = attrs.evolve(progress, speed=current.speed)
        fraction = progress.fraction
        reported = attrs.evolve(
            current,
            progress=current.progress if fraction is None else fraction,
            speed=progress.speed,
            eta=encode_eta(progress),
        )
        task = self._advanced(TaskPhase.ENCODING, fraction or 0.0, reported)
        if task != current:
            await self._save(task)

    async def _on_upload_progress(self, fraction: float) -> None:
        if self._progress_due():
            await self._save(self._advanced(TaskPhase.UPLOADING, fraction))


def upload_id(task: Task) -> str:
    """The id a run's outputs are stored under: the task's for its first attempt, with the
    attempt's number for a retry, so that what an interrupted attempt stored is never in the
    way (uploaders never overwrite) nor mistaken for this attempt's."""
    return task.id if task.attempts <= 1 else f"{task.id}-attempt-{task.attempts}"


def describe_failure(step: str, exc: FfmpegTasksError, workdir: Path | None) -> str:
    """The step that failed and why; what ffmpeg printed is sanitised (the raw tail is the log)."""
    if isinstance(exc, InvalidTaskError):
        return f"refused by this manager's command policy: {exc}"
    if not isinstance(exc, RunError):
        return f"{_FAILED_STEP[step]}: {exc}"
    message = f"{_FAILED_STEP[step]}: {sanitize_line(str(exc), workdir=workdir)}"
    tail = sanitize_stderr(exc.stderr_tail, workdir=workdir, max_lines=_ERROR_TAIL_LINES)
    return f"{message}\nffmpeg's last output:\n{tail}" if tail else message
