"""The default runner: the real ffmpeg as a child process, watched and stopped reliably."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path

import anyio
import anyio.abc
import anyio.to_thread

from .._errors import ConfigurationError, RunError
from .._models import Health
from .._protocols import ProgressCallback
from ._binary import ENV_VAR, ffmpeg_version, find_ffmpeg, scrubbed_env
from ._progress import LineSplitter, ProgressTracker

__all__ = ["SubprocessRunner"]

#: Placed before the caller's arguments. ``-hide_banner`` keeps the build configuration out of
#: the stderr tail; the per-input ``Duration`` lines that progress needs are still printed.
GLOBAL_OPTIONS = ("-nostdin", "-hide_banner", "-nostats", "-progress", "pipe:1")
#: How many times (every 10 ms) to look whether the process group is gone after SIGKILL.
GROUP_EXIT_POLLS = 50
#: No stderr line we keep is longer than this many characters.
MAX_LINE_CHARS = 1000

_ERROR_WORDS = re.compile(
    r"error|invalid|unable|cannot|could not|no such|not found|unknown|unrecognized|denied|"
    r"failed|does not|not supported|too many|out of",
    re.IGNORECASE,
)
_NOISE = re.compile(r"^(Conversion failed!|Exiting normally|frame=|size=)")
_CONTEXT_PREFIX = re.compile(r"^\[[^\]]* @ (0x)?[0-9a-fA-F]+\] ")


class SubprocessRunner:
    """Runs ffmpeg without a shell, in the task's folder, with a scrubbed environment.

    ffmpeg runs in its own process group (``start_new_session``) with stdin closed
    (``-nostdin``), so it can never read the terminal. Progress comes from
    ``-progress pipe:1`` on stdout; stderr is drained at the same time and only its last lines
    are kept, so neither pipe can fill up and stall ffmpeg, and memory stays bounded.

    The child's environment is ``PATH``, ``LANG=C.UTF-8`` and ``HOME`` set to the task's folder,
    nothing else: no ``AWS_*`` credentials, no ``*_PROXY``, no ``FFREPORT``. Pass ``env`` to
    choose it yourself.

    Cancelling a run stops ffmpeg in escalating steps: ``SIGINT`` (ffmpeg's graceful stop,
    what pressing ``q`` does; ``q`` itself cannot be sent because stdin is closed), then after
    ``kill_grace`` seconds ``SIGTERM``, then ``SIGKILL``, each to the whole process group. The
    process is always reaped and the cancellation propagates unchanged.

    Args:
        ffmpeg: The binary; found lazily by :func:`find_ffmpeg` (``FFMPEG_BINARY``, ``PATH``,
            the ``ffmpeg`` extra) when None.
        stderr_tail_lines: How many of ffmpeg's last stderr lines ``run`` returns and errors carry.
        kill_grace: Seconds to wait after each stop signal before sending the next.
        env: The child's complete environment, instead of the scrubbed default.
    """

    def __init__(
        self,
        ffmpeg: str | os.PathLike[str] | None = None,
        *,
        stderr_tail_lines: int = 40,
        kill_grace: float = 2.0,
        env: Mapping[str, str] | None = None,
    ) -> None:
        if stderr_tail_lines < 1:
            raise ValueError(f"stderr_tail_lines must be at least 1, got {stderr_tail_lines}")
        if kill_grace < 0:
            raise ValueError(f"kill_grace must be zero or more seconds, got {kill_grace}")
        self._explicit = ffmpeg
        self._binary: Path | None = None
        self._tail_lines = stderr_tail_lines
        self._kill_grace = kill_grace
        self._env = None if env is None else dict(env)

    def __repr__(self) -> str:
        where = self._binary or self._explicit
        return f"SubprocessRunner(ffmpeg={None if where is None else os.fspath(where)!r})"

    async def ffmpeg_path(self) -> Path:
        """The binary this runner uses, found on first use and then remembered.

        Raises:
            ConfigurationError: no usable ffmpeg (the message lists where it looked).
        """
        if self._binary is None:
            self._binary = await anyio.to_thread.run_sync(find_ffmpeg, self._explicit)
        return self._binary

    async def run(
        self,
        args: Sequence[str],
        *,
        workdir: Path,
        on_progress: ProgressCallback | None = None,
    ) -> str:
        """Run ffmpeg with ``args`` in ``workdir``; return the tail of its stderr.

        Raises:
            ConfigurationError: no usable ffmpeg binary, or it cannot be started.
            RunError: ffmpeg exited with a non-zero status, or ``workdir`` is not a folder.
        """
        ffmpeg = await self.ffmpeg_path()
        workdir = Path(await anyio.Path(workdir).absolute())
        if not await anyio.Path(workdir).is_dir():
            raise RunError(f"working folder {workdir} does not exist")
        tail: deque[str] = deque(maxlen=self._tail_lines)
        tracker = ProgressTracker(args)
        try:
            process = await anyio.open_process(
                [os.fspath(ffmpeg), *GLOBAL_OPTIONS, *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=workdir,
                env=scrubbed_env(workdir) if self._env is None else self._env,
                start_new_session=True,
            )
        except OSError as exc:
            raise ConfigurationError(
                f"could not start ffmpeg {str(ffmpeg)!r}: {exc.strerror or exc}; "
                f"point {ENV_VAR} or ffmpeg= at a working binary"
            ) from exc
        try:
            await _watch(process, tracker, tail, on_progress)
            returncode = await process.wait()
        finally:
            with anyio.CancelScope(shield=True):
                await _stop(process, self._kill_grace)
                await process.aclose()
        if returncode != 0:
            raise RunError(
                _failure_message(returncode, tail),
                returncode=returncode,
                stderr_tail="\n".join(tail),
            )
        return "\n".join(tail)

    async def health(self) -> Health:
        """Where ffmpeg is and its version; a missing or broken ffmpeg is reported, not raised."""
        details = {
            "runner": "subprocess",
            "environment": "scrubbed" if self._env is None else "custom",
        }
        try:
            path = await self.ffmpeg_path()
        except ConfigurationError as exc:
            return Health(ffmpeg_found=False, error=str(exc), details=details)
        try:
            version = await ffmpeg_version(path)
        except ConfigurationError as exc:
            return Health(
                ffmpeg_found=False, ffmpeg_path=str(path), error=str(exc), details=details
            )
        return Health(
            ffmpeg_found=True, ffmpeg_path=str(path), ffmpeg_version=version, details=details
        )

    async def aclose(self) -> None:
        """Nothing to release: every run reaps its own process."""


async def _watch(
    process: anyio.abc.Process,
    tracker: ProgressTracker,
    tail: deque[str],
    on_progress: ProgressCallback | None,
) -> None:
    """Drain both pipes until ffmpeg closes them, reporting progress as blocks complete."""
    assert process.stdout is not None
    assert process.stderr is not None
    failure: Exception | None = None
    async with anyio.create_task_group() as group:
        group.start_soon(_drain_stderr, process.stderr, tracker, tail)
        try:
            splitter = LineSplitter(MAX_LINE_CHARS)
            async for chunk in process.stdout:
                for line in splitter.feed(chunk):
                    progress = tracker.stdout_line(line)
                    if progress is not None and on_progress is not None:
                        await on_progress(progress)
        except Exception as exc:  # noqa: BLE001 - re-raised below, unwrapped from the group
            failure = exc
            group.cancel_scope.cancel()
    if failure is not None:
        raise failure


async def _drain_stderr(
    stream: anyio.abc.ByteReceiveStream, tracker: ProgressTracker, tail: deque[str]
) -> None:
    splitter = LineSplitter(MAX_LINE_CHARS)
    async for chunk in stream:
        for line in splitter.feed(chunk):
            tail.append(line)
            tracker.stderr_line(line)
    tail.extend(splitter.flush())


async def _stop(process: anyio.abc.Process, grace: float) -> None:
    """Stop ffmpeg and anything it started: SIGINT, SIGTERM, SIGKILL, then reap.

    Call shielded. The pipes are closed first, so a stopping ffmpeg can never block writing to
    a pipe nobody reads any more (ffmpeg ignores SIGPIPE and carries on).
    """
    if process.returncode is None:
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                await stream.aclose()
        for signum in (signal.SIGINT, signal.SIGTERM):
            _signal_group(process.pid, signum)
            with anyio.move_on_after(grace):
                await process.wait()
            if process.returncode is not None:
                break
    # Whatever happened to the leader, nothing of its group may survive it. SIGKILL is
    # delivered asynchronously: wait (briefly, zombies also count) until the group is empty.
    _signal_group(process.pid, signal.SIGKILL)
    await process.wait()
    for _ in range(GROUP_EXIT_POLLS):  # no event tells when a group empties: poll it
        if not _signal_group(process.pid, 0):
            break
        await anyio.sleep(0.01)


def _signal_group(pgid: int, signum: int) -> bool:
    """Signal every process in the group; False when the group is empty."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # a member changed its user id; signal what we may and let it be
    return True


def _failure_message(returncode: int, tail: Sequence[str]) -> str:
    """Name the exit status and the line of stderr most likely to say what went wrong."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        status = f"ffmpeg was killed by {name}"
    else:
        status = f"ffmpeg exited with status {returncode}"
    lines = [line.strip() for line in tail if not _NOISE.match(line.strip())]
    errors = [line for line in lines if _ERROR_WORDS.search(line)]
    chosen = (errors or lines or [""])[-1]
    chosen = _CONTEXT_PREFIX.sub("", chosen)
    if not chosen:
        return f"{status} without printing an error (is -loglevel set to quiet?)"
    return f"{status}: {chosen}"
