"""Starting the sandbox without the Python launcher: a shell waits while the runner sets its limits.

The launcher (``_launcher.py``) costs a Python start-up per run, about 10 to 20 ms of CPU,
which is a fifth of a short encode. In front of ``bwrap`` most of its work can be done from
outside: the runner starts ``/bin/sh`` with a script that ignores ``SIGINT`` and ``SIGTERM``
(``trap ''``, which ``exec`` keeps, so ``bwrap`` outlives ffmpeg's graceful stop as with the
launcher) and then waits for one line on its stdin. Meanwhile the runner sets the waiting
shell's resource limits (``prlimit``), its niceness and its autogroup's niceness
(``/proc/<pid>/autogroup``, with the launcher's retries); then it writes ``go`` and the shell
replaces itself with ``bwrap`` (same process, same process group), which inherits all of it,
with stdin moved to ``/dev/null``. The shell's stdin is a plain pipe, written once. ``SIGPIPE`` and ``SIGXFSZ`` are at their defaults already:
``subprocess`` restores them in every child, and the shell leaves them so.

Nothing runs before the limits are set: if the service dies or the run is cancelled first,
the shell reads the end of its stdin instead of ``go`` and exits. What the launcher did in
addition, ``PR_SET_PDEATHSIG``, ``bwrap --die-with-parent`` does for the sandbox (asyncio
only, as before); it takes effect when ``bwrap`` has started, a millisecond or so after the
shell was released, where the launcher set it before ``exec``.

A shell may add variables of its own to the environment it passes on (bash adds ``SHLVL``):
``bwrap`` removes them (:data:`SHELL_VARIABLES`) unless they were asked for, so ffmpeg gets
exactly the environment it was given, as with the launcher.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Iterable, Sequence

import anyio

from .._errors import ConfigurationError
from ._launcher import CANNOT_EXECUTE

__all__ = ["GATE_SHELL", "SHELL_VARIABLES", "gate_argv", "gate_available", "open_gate"]

#: The shell that waits; POSIX's, present wherever bubblewrap is.
GATE_SHELL = "/bin/sh"
#: Variables a shell may add to its children's environment.
SHELL_VARIABLES = ("OLDPWD", "SHLVL", "_")
#: The exit status of a shell told nothing (its stdin ended): the run was abandoned.
ABANDONED_STATUS = 125
#: Seconds to keep trying an autogroup change the kernel refuses for now (see _launcher.py).
_AUTOGROUP_PATIENCE = 1.0
_MAX_NICE = 19

_SCRIPT = f"""\
trap '' INT TERM
IFS= read -r go && [ "$go" = go ] || exit {ABANDONED_STATUS}
if [ ! -e "$1" ]; then echo "{CANNOT_EXECUTE}: No such file or directory" >&2; exit 127; fi
if [ ! -x "$1" ]; then echo "{CANNOT_EXECUTE}: Permission denied" >&2; exit 127; fi
exec "$@" </dev/null
"""


def gate_available() -> bool:
    """Whether the shell is there to wait in."""
    return os.access(GATE_SHELL, os.X_OK)


def gate_argv(argv: Sequence[str]) -> list[str]:
    """The command that runs ``argv`` (an absolute program path first) once the gate opens."""
    return [GATE_SHELL, "-c", _SCRIPT, "ffmpeg-tasks-gate", *argv]


async def open_gate(
    pid: int, gate: int, *, rlimits: Iterable[tuple[str, int, int]], nice: int
) -> None:
    """Give the shell ``pid`` its limits and niceness, then let it start its program.

    ``gate`` is the writing end of the pipe that is the shell's stdin; it is closed whatever
    happens, and a gate closed without ``go`` ends the shell.

    Raises:
        ConfigurationError: the limits or the niceness cannot be set.
    """
    try:
        try:
            _set_limits(pid, rlimits)
            if nice:
                await _renice_autogroup(pid, _renice(pid, nice))
        except ProcessLookupError:
            return  # it died already; waiting for it tells how
        except PermissionError as exc:
            raise ConfigurationError(
                f"cannot set the resource limits or the niceness of ffmpeg's sandbox: {exc}"
            ) from exc
        try:
            os.write(gate, b"go\n")  # a few bytes into an empty pipe: never blocks
        except BrokenPipeError:
            return  # the shell is gone: waiting for it tells how
    finally:
        os.close(gate)


def _set_limits(pid: int, limits: Iterable[tuple[str, int, int]]) -> None:
    """The launcher's limits, set from outside; a value above the hard limit is lowered to it."""
    for name, soft, hard in limits:
        which = getattr(resource, name)
        top = resource.prlimit(pid, which)[1]
        if top != resource.RLIM_INFINITY:
            soft, hard = min(soft, top), min(hard, top)
        resource.prlimit(pid, which, (soft, hard))


def _renice(pid: int, step: int) -> int:
    """Add ``step`` to the niceness ``pid`` has (its starter's), as ``nice -n`` does."""
    niceness = min(os.getpriority(os.PRIO_PROCESS, pid) + step, _MAX_NICE)
    os.setpriority(os.PRIO_PROCESS, pid, niceness)
    return niceness


async def _renice_autogroup(pid: int, niceness: int) -> None:
    """The shell leads a session of its own: give its autogroup the same niceness."""
    deadline = anyio.current_time() + _AUTOGROUP_PATIENCE
    value = str(niceness).encode()
    while True:
        try:
            fd = os.open(f"/proc/{pid}/autogroup", os.O_WRONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return  # no autogroups here (or the shell is gone): the niceness alone ranks it
        try:
            os.write(fd, value)
            return
        except BlockingIOError:
            pass  # another autogroup changed less than 100 ms ago: wait for our turn
        except OSError:
            return
        finally:
            os.close(fd)
        if anyio.current_time() >= deadline:
            return
        await anyio.sleep(0.01)
