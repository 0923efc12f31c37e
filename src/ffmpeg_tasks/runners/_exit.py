"""What an ffmpeg exit status means: a signal, a resource limit, or an error it printed.

Inside the sandbox the runner's child is ``bwrap``, which reports a command killed by signal N
as exit status 128 + N, like a shell. ffmpeg 9 muddies that: it exits with the low byte of its
negative error code, so ``ECONNRESET`` (104) also comes out as 152 = 128 + ``SIGXCPU``. A status
is read as a signal only for the signals that end a process, and only when the stderr tail does
not name the error that status would otherwise mean (ffmpeg prints the ``strerror`` text of the
error it exits with).
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Sequence
from typing import Literal

import attrs

from .._errors import ConfigurationError, RunError
from ._binary import ENV_VAR
from ._launcher import cannot_execute
from ._limits import ResourceLimits, limit_hint, limit_reached

__all__ = ["Ended", "Ending", "cannot_start", "exit_signal", "failure_message"]

#: Signals that end a process, as bwrap's 128 + N statuses may carry them.
_FATAL = frozenset(
    {
        signal.SIGABRT,
        signal.SIGBUS,
        signal.SIGFPE,
        signal.SIGILL,
        signal.SIGINT,
        signal.SIGKILL,
        signal.SIGSEGV,
        signal.SIGSYS,
        signal.SIGTERM,
        signal.SIGXCPU,
        signal.SIGXFSZ,
    }
)
_ERROR_WORDS = re.compile(
    r"error|invalid|unable|cannot|could not|no such|not found|unknown|unrecognized|denied|"
    r"failed|does not|not supported|too many|out of",
    re.IGNORECASE,
)
_NOISE = re.compile(r"^(Conversion failed!|Exiting normally|frame=|size=)")
_CONTEXT_PREFIX = re.compile(r"^\[[^\]]* @ (0x)?[0-9a-fA-F]+\] ")


def exit_signal(returncode: int, tail: Sequence[str], *, sandboxed: bool) -> int | None:
    """The signal that ended the run, or None when it exited by itself."""
    if returncode < 0:
        return -returncode
    if not sandboxed or returncode - 128 not in _FATAL:
        return None
    # 256 - status is the errno ffmpeg 9 would exit with for the same status.
    meaning = os.strerror(256 - returncode)
    if any(meaning in line for line in tail):
        return None
    return returncode - 128


def failure_message(
    returncode: int,
    tail: Sequence[str],
    *,
    signum: int | None = None,
    limits: ResourceLimits | None = None,
) -> str:
    """Name the limit reached, or the exit status and the stderr line that most likely says why.

    Args:
        returncode: The exit status.
        tail: The last lines of stderr.
        signum: The signal that ended ffmpeg, from :func:`exit_signal`.
        limits: The run's resource limits, to recognise a run that hit one.
    """
    reached = limit_reached(limits, signum, tail)
    if reached is not None:
        return reached
    if signum is not None:
        try:
            name = signal.Signals(signum).name
        except ValueError:
            name = f"signal {signum}"
        status = f"ffmpeg was killed by {name}"
    else:
        status = f"ffmpeg exited with status {returncode}"
    lines = [line.strip() for line in tail if not _NOISE.match(line.strip())]
    errors = [line for line in lines if _ERROR_WORDS.search(line)]
    chosen = (errors or lines or [""])[-1]
    chosen = _CONTEXT_PREFIX.sub("", chosen)
    hint = limit_hint(limits, signum)
    if not chosen:
        explained = f"{status} without printing an error"
        return f"{explained} ({hint})" if hint else f"{explained} (is -loglevel set to quiet?)"
    return f"{status}: {chosen} ({hint})" if hint else f"{status}: {chosen}"


#: How one start of ffmpeg ended.
Ending = Literal["exited", "timed out", "stuck"]


@attrs.frozen(kw_only=True)
class Ended:
    """How one start of ffmpeg ended, and what it printed last."""

    status: Ending
    returncode: int
    #: The last lines of stderr.
    tail: tuple[str, ...]

    def result(
        self,
        *,
        program: str,
        where: str,
        sandboxed: bool,
        limits: ResourceLimits | None,
        timeout: float | None,
        stall_timeout: float | None,
    ) -> str:
        """The stderr tail of a successful run; otherwise the error that says what happened.

        Raises:
            ConfigurationError: the program could not be executed at all.
            RunError: ffmpeg failed, hit a limit, ran out of time or was stuck.
        """
        tail = "\n".join(self.tail)
        if self.status == "timed out":
            raise RunError(
                f"ffmpeg did not finish within the timeout of {timeout:g} s and was "
                "stopped; raise timeout= for longer jobs",
                returncode=self.returncode,
                stderr_tail=tail,
            )
        if self.status == "stuck":
            raise RunError(
                f"ffmpeg made no progress and used no CPU for {stall_timeout:g} s, twice, and "
                "was stopped; it is stuck (a rare deadlock of ffmpeg 7 and later): run the task "
                "again, or raise stall_timeout= if the command waits on purpose",
                returncode=self.returncode,
                stderr_tail=tail,
            )
        if self.returncode == 0:
            return tail
        reason = cannot_execute(self.returncode, self.tail)
        if reason is not None:
            raise ConfigurationError(cannot_start(program, where, reason))
        signum = exit_signal(self.returncode, self.tail, sandboxed=sandboxed)
        raise RunError(
            failure_message(self.returncode, self.tail, signum=signum, limits=limits),
            returncode=self.returncode if signum is None else -signum,
            stderr_tail=tail,
        )


def cannot_start(program: str, path: str, reason: object) -> str:
    """Why ``program`` at ``path`` did not start, and what to change."""
    fix = (
        f"point {ENV_VAR} or ffmpeg= at a working binary"
        if program == "ffmpeg"
        else "fix the bubblewrap installation or pass bwrap="
    )
    return f"could not start {program} {path!r}: {reason}; {fix}"
