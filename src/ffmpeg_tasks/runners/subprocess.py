"""The default runner: the real ffmpeg as a child process, sandboxed, limited, watched and stopped.

How a run starts, from the outside in: the launcher (``_launcher.py``: resource limits, signal
dispositions), then ``bwrap`` when the sandbox is on (``_sandbox.py``), then ffmpeg. In front of
``bwrap`` a waiting shell (``_gate.py``) takes the launcher's place: the runner sets its limits
from outside, which saves a Python start-up per run.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import subprocess
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path

import anyio
import anyio.abc
import anyio.to_thread

from .._checks import check_optional_seconds, check_positive_int, check_seconds
from .._errors import ConfigurationError, RunError
from .._media import MediaInfo
from .._models import Health
from .._protocols import ProgressCallback
from .._usage import CHILD_CPU, report_cpu_seconds
from ._binary import ffmpeg_version, find_ffmpeg, scrubbed_env
from ._exit import Ended, Ending, cannot_start
from ._gate import SHELL_VARIABLES, gate_argv, gate_available, open_gate
from ._launcher import launcher_argv
from ._limits import DEFAULT_LIMITS, ResourceLimits, describe_limits, rlimits
from ._probe import PROBE_MODES, ProbeMode, Prober, find_prober, probe_files
from ._process import follow, stop
from ._progress import ProgressTracker
from ._sandbox import (
    MODES,
    SandboxMode,
    SandboxStatus,
    bwrap_args,
    check_sandbox,
    started_from_worker_threads,
)
from ._stall import DEFAULT_STALL_TIMEOUT

__all__ = ["SubprocessRunner"]

logger = logging.getLogger("ffmpeg_tasks")

#: Placed before the caller's arguments. ``-hide_banner`` keeps the build configuration out of
#: the stderr tail; the per-input ``Duration`` lines that progress needs are still printed.
GLOBAL_OPTIONS = ("-nostdin", "-hide_banner", "-nostats", "-progress", "pipe:1")
#: How many times a stuck ffmpeg is run again from a clean work folder before the run fails.
STUCK_RETRIES = 1
#: How much lower than the service's own CPU priority ffmpeg runs unless told otherwise.
DEFAULT_NICE = 10
#: The largest niceness Linux knows (the lowest priority).
MAX_NICE = 19


class SubprocessRunner(anyio.abc.AsyncResource):
    """Runs ffmpeg without a shell, in the task's folder, sandboxed, with limits and a clean env.

    ffmpeg runs in its own process group (``start_new_session``) with stdin closed
    (``-nostdin``), so it can never read the terminal. Progress comes from
    ``-progress pipe:1`` on stdout; stderr is drained at the same time and only its last lines
    are kept, so neither pipe can fill up and stall ffmpeg, and memory stays bounded.

    The child's environment is ``PATH``, ``LANG=C.UTF-8`` and ``HOME`` set to the task's folder,
    nothing else: no ``AWS_*`` credentials, no ``*_PROXY``, no ``FFREPORT``. Pass ``env`` to
    choose it yourself.

    With bubblewrap (``bwrap``) installed and working, ffmpeg runs in a sandbox: it sees its
    working folder (read-write), its own binary and the system libraries (read-only), nothing
    else of the file system, no network and no other process. ``sandbox="auto"`` (the default)
    uses it when it works and runs unsandboxed otherwise, saying why in :meth:`health`;
    ``"bubblewrap"`` refuses to run without it; ``"none"`` never uses it. Every run also gets
    kernel resource limits (:class:`ResourceLimits`: CPU time, address space, file size, open
    files, no core dumps); a run that reaches one fails with a :class:`~ffmpeg_tasks.RunError`
    naming it.

    ffmpeg runs at a lower CPU priority than the service that starts it: ``nice`` (10 by
    default) is added to the service's own niceness, as ``nice -n 10`` would, and ffmpeg's
    session gets the same value for its scheduling group (its autogroup, where the kernel has
    them; see ``_launcher.py``). When encodes and the service compete for the CPU, the service
    wins: status polls, health checks and new registrations are answered promptly, and the
    encodes get the CPU time that is left. On an otherwise idle machine the encodes are as
    fast as without it. ``nice=0`` runs ffmpeg at the service's priority.

    Cancelling a run stops ffmpeg in escalating steps: ``SIGINT`` (ffmpeg's graceful stop,
    what pressing ``q`` does; ``q`` itself cannot be sent because stdin is closed), then after
    ``kill_grace`` seconds ``SIGTERM``, then ``SIGKILL``, each to the whole process group
    (the sandbox included). The process is always reaped and the cancellation propagates
    unchanged. A run that exceeds ``timeout`` is stopped the same way and raises ``RunError``.

    Args:
        ffmpeg: The binary; found lazily by :func:`find_ffmpeg` (``FFMPEG_BINARY``, ``PATH``,
            the ``ffmpeg`` extra) when None.
        stderr_tail_lines: How many of ffmpeg's last stderr lines ``run`` returns and errors carry.
        kill_grace: Seconds to wait after each stop signal before sending the next.
        env: The child's complete environment, instead of the scrubbed default.
        sandbox: ``"auto"``, ``"bubblewrap"`` or ``"none"``, as above. Whether bubblewrap works
            is found out once, on the first run or health check, and remembered.
        bwrap: The bubblewrap binary; ``bwrap`` on ``PATH`` when None.
        sandbox_paths: More files or folders ffmpeg may read inside the sandbox, each bound
            read-only at its own (absolute) path: the library folder of a dynamically linked
            ffmpeg installed outside ``/usr``, fonts for subtitles.
        limits: Resource limits for every run; None sets none at all.
        timeout: Seconds a run may take, wall clock; None for no limit.
        nice: How many steps below the service's CPU priority ffmpeg runs, 0 (the same) to
            19 (the lowest); see above.
        probe: How outputs are probed, in the same sandbox and limits as ffmpeg:
            ``"auto"`` uses ffprobe when one is next to ffmpeg or on ``PATH``, else PyAV
            when installed, else none; ``"ffprobe"`` or ``"pyav"`` insist on one;
            ``"none"`` never probes.
        stall_timeout: Seconds of no new progress and no CPU use after which ffmpeg counts as
            stuck: it is stopped and run once more from a clean folder, then the run fails;
            None never calls a run stuck.

    Raises:
        ConfigurationError: a setting is out of range.
    """

    def __init__(
        self,
        ffmpeg: str | os.PathLike[str] | None = None,
        *,
        stderr_tail_lines: int = 40,
        kill_grace: float = 2.0,
        env: Mapping[str, str] | None = None,
        sandbox: SandboxMode = "auto",
        bwrap: str | os.PathLike[str] | None = None,
        sandbox_paths: Sequence[str | os.PathLike[str]] = (),
        limits: ResourceLimits | None = DEFAULT_LIMITS,
        timeout: float | None = None,
        nice: int = DEFAULT_NICE,
        probe: ProbeMode = "auto",
        stall_timeout: float | None = DEFAULT_STALL_TIMEOUT,
    ) -> None:
        check_positive_int(stderr_tail_lines, "stderr_tail_lines")
        check_seconds(kill_grace, "kill_grace", zero_ok=True)
        if sandbox not in MODES:
            raise ConfigurationError(
                f"sandbox must be one of {', '.join(map(repr, MODES))}, got {sandbox!r}"
            )
        check_optional_seconds(timeout, "timeout", error=ConfigurationError)
        check_optional_seconds(stall_timeout, "stall_timeout", error=ConfigurationError)
        if isinstance(nice, bool) or not isinstance(nice, int) or not 0 <= nice <= MAX_NICE:
            raise ConfigurationError(
                f"nice must be a whole number from 0 (ffmpeg at the service's CPU priority) to "
                f"{MAX_NICE} (the lowest priority), got {nice!r}"
            )
        if probe not in PROBE_MODES:
            raise ConfigurationError(
                f"probe must be one of {', '.join(map(repr, PROBE_MODES))}, got {probe!r}"
            )
        relative = [os.fspath(path) for path in sandbox_paths if not os.path.isabs(path)]
        if relative:
            raise ConfigurationError(f"sandbox_paths must be absolute, got {relative[0]!r}")
        self._explicit = ffmpeg
        self._binary: Path | None = None
        self._tail_lines = stderr_tail_lines
        self._kill_grace = kill_grace
        self._env = None if env is None else dict(env)
        self._sandbox_mode: SandboxMode = sandbox
        self._bwrap = bwrap
        self._sandbox_paths = tuple(Path(path) for path in sandbox_paths)
        self._sandbox: SandboxStatus | None = None
        self._limits = limits
        self._timeout = timeout
        self._stall_timeout = stall_timeout
        self._nice = nice
        self._probe_mode: ProbeMode = probe
        #: The probe found on first use: (it,) once looked for.
        self._prober: tuple[Prober | None] | None = None
        #: (the binary's identity, its version): health() need not run it every time.
        self._version: tuple[tuple[str, int, int, int], str] | None = None

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
            ConfigurationError: no usable ffmpeg binary, it cannot be started, or
                ``sandbox="bubblewrap"`` and bubblewrap is missing or does not work.
            RunError: ffmpeg exited with a non-zero status, reached a resource limit or the
                timeout, or ``workdir`` is not a folder.
        """
        ffmpeg = await self.ffmpeg_path()
        workdir = await anyio.to_thread.run_sync(_existing_folder, Path(workdir))
        sandbox = await self._sandbox_status(ffmpeg)
        if not sandbox.active and self._sandbox_mode == "bubblewrap":
            raise ConfigurationError(sandbox.ffmpeg_error or _unavailable(sandbox))
        env = scrubbed_env(workdir) if self._env is None else self._env
        deadline = None if self._timeout is None else anyio.current_time() + self._timeout
        before = await anyio.to_thread.run_sync(_names_in, workdir)
        for attempt in range(1 + STUCK_RETRIES):
            if attempt:
                logger.warning("ffmpeg was stuck and was stopped; running it again: %s", args)
                await anyio.to_thread.run_sync(_remove_all_but, workdir, before)
            ended = await self._run_once(
                ffmpeg, args, workdir=workdir, sandbox=sandbox, env=env,
                deadline=deadline, on_progress=on_progress,
            )  # fmt: skip
            if ended.status != "stuck":
                break
        return ended.result(
            program="bwrap" if sandbox.active else "ffmpeg",
            where=os.fspath(sandbox.bwrap if sandbox.bwrap is not None else ffmpeg),
            sandboxed=sandbox.active,
            limits=self._limits,
            timeout=self._timeout,
            stall_timeout=self._stall_timeout,
        )

    async def _run_once(
        self,
        ffmpeg: Path,
        args: Sequence[str],
        *,
        workdir: Path,
        sandbox: SandboxStatus,
        env: Mapping[str, str],
        deadline: float | None,
        on_progress: ProgressCallback | None,
    ) -> Ended:
        """Start ffmpeg once and follow it to its end (exit, the deadline, or stuck)."""
        gated = sandbox.active and gate_available()
        command = self._command(
            ffmpeg, args, workdir=workdir, sandbox=sandbox, env=env, gated=gated
        )
        program = "bwrap" if sandbox.active else "ffmpeg"
        where = os.fspath(sandbox.bwrap if sandbox.bwrap is not None else ffmpeg)
        tail: deque[str] = deque(maxlen=self._tail_lines)
        tracker = ProgressTracker(args)
        gate = os.pipe() if gated else None  # (the shell's stdin, the runner's end)
        try:
            process = await anyio.open_process(
                command,
                stdin=subprocess.DEVNULL if gate is None else gate[0],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=workdir,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            if gate is not None:
                os.close(gate[1])
            raise ConfigurationError(cannot_start(program, where, exc.strerror or exc)) from exc
        finally:
            if gate is not None:
                os.close(gate[0])
        exited = False
        left = math.inf if deadline is None else deadline - anyio.current_time()
        try:
            if gate is not None:
                limits = () if self._limits is None else rlimits(self._limits)
                await open_gate(process.pid, gate[1], rlimits=limits, nice=self._nice)
            with anyio.move_on_after(left) as timer:
                exited = await follow(
                    process, tracker, tail, on_progress, stall_timeout=self._stall_timeout
                )
        finally:
            with anyio.CancelScope(shield=True):
                await stop(process, self._kill_grace)
                await process.aclose()
            report_cpu_seconds(CHILD_CPU.take())
        returncode = process.returncode
        assert returncode is not None  # stop() reaped it
        status: Ending = "timed out" if timer.cancelled_caught else "exited" if exited else "stuck"
        return Ended(status=status, returncode=returncode, tail=tuple(tail))

    async def probe(
        self, names: Sequence[str], *, workdir: Path
    ) -> Sequence[MediaInfo | None] | None:
        """Probe files in ``workdir`` in ffmpeg's sandbox and limits (see ``_probe.py``).

        Returns None when there is no probe (``probe="none"``, or ``"auto"`` without ffprobe
        or PyAV); a file that is not media the probe reads gets no facts (None in the list).

        Raises:
            ConfigurationError: the probe asked for is missing, or ``sandbox="bubblewrap"``
                and the sandbox cannot be used.
            RunError: the probe crashed, hung or reached a limit.
        """
        ffmpeg = await self.ffmpeg_path()
        prober = await self._find_prober(ffmpeg)
        if prober is None:
            return None
        workdir = Path(await anyio.Path(workdir).absolute())
        sandbox = await self._sandbox_status(ffmpeg)
        if not sandbox.active and self._sandbox_mode == "bubblewrap":
            raise ConfigurationError(sandbox.ffmpeg_error or _unavailable(sandbox))
        return await probe_files(
            prober,
            names,
            workdir=workdir,
            sandbox=sandbox,
            read_only=self._sandbox_paths,
            limits=self._limits,
            nice=self._nice,
            env=scrubbed_env(workdir) if self._env is None else self._env,
        )

    async def _find_prober(self, ffmpeg: Path) -> Prober | None:
        if self._prober is None:
            self._prober = (await anyio.to_thread.run_sync(find_prober, self._probe_mode, ffmpeg),)
        return self._prober[0]

    async def health(self) -> Health:
        """Where ffmpeg is, its version, the sandbox and the limits; problems are reported, not raised.

        ``Health.sandbox`` names the sandbox (``"bubblewrap 0.8.0"``) or is None when runs are
        unsandboxed, and ``details["sandbox"]`` says why (``"off: bwrap was not found..."``).
        With ``sandbox="bubblewrap"`` an unusable sandbox is also the health's ``error``.
        """
        details = {
            "runner": "subprocess",
            "environment": "scrubbed" if self._env is None else "custom",
            "limits": describe_limits(self._limits),
            "timeout": "none" if self._timeout is None else f"{self._timeout:g} s",
            "stall_timeout": (
                "none" if self._stall_timeout is None else f"{self._stall_timeout:g} s"
            ),
            "nice": (
                f"{self._nice}: ffmpeg runs at a lower CPU priority than the service"
                if self._nice
                else "0: ffmpeg runs at the service's CPU priority"
            ),
        }
        try:
            path = await self.ffmpeg_path()
        except ConfigurationError as exc:
            details["sandbox"] = "unknown: there is no ffmpeg to run in it"
            return Health(ffmpeg_found=False, error=str(exc), details=details)
        try:
            prober = await self._find_prober(path)
        except ConfigurationError as exc:
            details["probe"] = f"unavailable: {exc}"
        else:
            details["probe"] = (
                "off: outputs are not probed" if prober is None else prober.describe()
            )
        sandbox = await self._sandbox_status(path)
        if sandbox.active:
            details["sandbox"] = f"on: {sandbox.version} ({sandbox.bwrap})"
        else:
            details["sandbox"] = f"off: {sandbox.reason}"
        error = _unavailable(sandbox) if self._sandbox_mode == "bubblewrap" else None
        try:
            version = await self._ffmpeg_version(path)
        except ConfigurationError as exc:
            return Health(
                ffmpeg_found=False,
                ffmpeg_path=str(path),
                error=str(exc),
                sandbox=sandbox.version,
                details=details,
            )
        return Health(
            ffmpeg_found=True,
            ffmpeg_path=str(path),
            ffmpeg_version=version,
            error=None if sandbox.active else error,
            sandbox=sandbox.version,
            details=details,
        )

    async def aclose(self) -> None:
        """Nothing to release: every run reaps its own process."""

    async def _ffmpeg_version(self, path: Path) -> str:
        """``ffmpeg -version``, run again only when the file changed: a health endpoint
        polled by strangers must not start a process per request."""
        try:
            status = await anyio.Path(path).stat()
        except OSError:
            identity = None
        else:
            identity = (str(path), status.st_ino, status.st_size, status.st_mtime_ns)
        if identity is not None and self._version is not None and self._version[0] == identity:
            return self._version[1]
        version = await ffmpeg_version(path)
        if identity is not None:
            self._version = (identity, version)
        return version

    async def _sandbox_status(self, ffmpeg: Path) -> SandboxStatus:
        """Whether runs are sandboxed: probed on first use, then remembered."""
        if self._sandbox is None:
            self._sandbox = await check_sandbox(
                self._sandbox_mode,
                bwrap=self._bwrap,
                ffmpeg=ffmpeg,
                read_only=self._sandbox_paths,
            )
        return self._sandbox

    def _command(
        self,
        ffmpeg: Path,
        args: Sequence[str],
        *,
        workdir: Path,
        sandbox: SandboxStatus,
        env: Mapping[str, str],
        gated: bool = False,
    ) -> list[str]:
        """ffmpeg's command line, inside bwrap when sandboxed, behind the launcher if needed
        (behind the gate when ``gated``)."""
        command = [os.fspath(ffmpeg), *GLOBAL_OPTIONS, *args]
        die_with_parent = not started_from_worker_threads()
        if sandbox.bwrap is not None:
            prefix = bwrap_args(
                sandbox.bwrap,
                ffmpeg=ffmpeg,
                workdir=workdir,
                read_only=self._sandbox_paths,
                die_with_parent=die_with_parent,
                unset_env=[name for name in SHELL_VARIABLES if name not in env] if gated else (),
            )
            command = [*prefix, *command]
            if gated:
                return gate_argv(command)
        elif self._limits is None and not self._nice and not die_with_parent:
            return command  # nothing to set up between fork and exec
        try:
            return launcher_argv(
                command,
                rlimits=() if self._limits is None else rlimits(self._limits),
                env_keys=env,
                # bwrap must outlive ffmpeg's graceful stop: see _launcher.py.
                ignore_signals=("SIGINT", "SIGTERM") if sandbox.active else (),
                nice=self._nice,
                die_with_parent=die_with_parent,
            )
        except RuntimeError as exc:
            raise ConfigurationError(
                f"{exc}; run with sandbox='none', limits=None and nice=0, or from a regular Python"
            ) from exc


def _existing_folder(path: Path) -> Path:
    """``path`` made absolute; one trip to a worker thread for both steps."""
    path = path.absolute()
    if not path.is_dir():
        raise RunError(f"working folder {path} does not exist")
    return path


def _unavailable(sandbox: SandboxStatus) -> str:
    return f"sandbox='bubblewrap' but the sandbox cannot be used: {sandbox.reason}"


def _names_in(folder: Path) -> frozenset[str]:
    return frozenset(os.listdir(folder))


def _remove_all_but(folder: Path, keep: frozenset[str]) -> None:
    """Remove what a stopped run wrote, so that the next one starts as the first did."""
    for name in os.listdir(folder):
        if name in keep:
            continue
        path = folder / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
