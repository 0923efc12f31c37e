"""The few lines of Python that start ffmpeg, or bwrap, with limits set and signals sorted.

``anyio.open_process`` has no ``preexec_fn``, so whatever must happen between ``fork`` and
``exec`` happens in a launcher: ``python -I -S -c CODE``, which sets the resource limits and
the CPU priority (``nice``), puts the signal dispositions right and replaces itself with the
real program (same process, same pid, same process group). It costs about 9 ms per run
(``python -I -S`` starting up), measured against 1.5 ms for ``prlimit`` plus
``env --ignore-signal``, which would tie the library to util-linux and to coreutils 8.31 or
newer; the launcher needs only the Python that is already running.

The signals: Python ignores ``SIGPIPE`` and ``SIGXFSZ`` and its children would inherit that,
so both go back to their defaults (``SIGXFSZ`` must kill, see ``_limits.py``). In front of a
sandbox the launcher also ignores ``SIGINT`` and ``SIGTERM`` before becoming ``bwrap``: the
runner's stop signals go to the whole process group, and ``bwrap`` dying on them would tear
the sandbox down and kill ffmpeg before it could close its output. Ignored, they reach
ffmpeg alone, which installs its own handlers and stops cleanly; ``bwrap`` exits with it.

The CPU priority: ``os.nice`` alone is not enough. The runner starts ffmpeg in a session of
its own, and where the kernel groups processes by session ("autogroups", the default on most
distributions outside containers with a CPU cgroup) a niceness only ranks threads against
others of the same session, while whole sessions share the CPU equally: an encode at nice 10
would still take as much CPU as the service. So the launcher also gives its new session's
autogroup the same niceness (``/proc/self/autogroup``), which ranks the encode below the
service as intended. It does so only as the leader of a new session (``start_new_session``):
an autogroup shared with the service must keep its niceness. Without ``CAP_SYS_ADMIN`` (a
service not running as root) the kernel takes one autogroup change per 100 ms, machine-wide,
and refuses the others with ``EAGAIN``, which an unbuffered write reports by returning None
rather than raising. Encodes started together therefore take turns: the launcher tries again
every 10 ms for up to a second (ten encodes starting at once), then starts ffmpeg with the
process niceness alone.

If the service dies without stopping its runs (``kill -9``, a crash), nothing would stop
ffmpeg: it runs in a session of its own. So the launcher asks the kernel to kill it when the
thread that started it (the service's event loop) goes (``PR_SET_PDEATHSIG``, kept across
``exec``), and gives up at once if that happened already. Not under trio: it starts processes
from worker threads that end after 10 s idle, which would kill every longer run (the sandbox
leaves out ``bwrap --die-with-parent`` there for the same reason).

The environment is passed through the process, never on the command line (other users can
read command lines); the launcher only drops what Python itself added to it (``LC_CTYPE``,
from its C locale coercion), so the program gets exactly the variables it was given.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence

__all__ = ["CANNOT_EXECUTE", "cannot_execute", "launcher_argv"]

#: How the launcher's stderr line starts when ``exec`` fails; the exit status is then 127.
CANNOT_EXECUTE = "ffmpeg-tasks launcher: cannot execute"
_CANNOT_EXECUTE_STATUS = 127

_CODE = f"""\
import os, resource, signal, sys, time
parent, limits, niceness, keys, ignored, *argv = sys.argv[1:]
if int(parent) and sys.platform.startswith("linux"):
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (ImportError, OSError, AttributeError):
        pass  # no prctl here: a dead service may leave this run going
    if os.getppid() != int(parent):
        sys.exit(128 + signal.SIGKILL)  # the service died before the line above
for item in filter(None, limits.split(",")):
    name, soft, hard = item.split(":")
    which = getattr(resource, name)
    soft, hard, top = int(soft), int(hard), resource.getrlimit(which)[1]
    if top != resource.RLIM_INFINITY:
        soft, hard = min(soft, top), min(hard, top)
    resource.setrlimit(which, (soft, hard))
if int(niceness):
    niceness = os.nice(int(niceness))
    # Only the leader of a new session has an autogroup of its own; any other would renice
    # the session it shares with the service.
    deadline = time.monotonic() + (1.0 if os.getsid(0) == os.getpid() else 0.0)
    while time.monotonic() < deadline:
        try:
            with open("/proc/self/autogroup", "wb", buffering=0) as autogroup:
                # None is EAGAIN: another autogroup changed less than 100 ms ago
                if autogroup.write(str(niceness).encode()) is not None:
                    break
        except BlockingIOError:
            pass
        except OSError:
            break  # no autogroups here: the niceness alone ranks ffmpeg
        time.sleep(0.01)
for name in ("SIGPIPE", "SIGXFSZ"):
    signal.signal(getattr(signal, name), signal.SIG_DFL)
for name in filter(None, ignored.split(",")):
    signal.signal(getattr(signal, name), signal.SIG_IGN)
env = {{key: os.environ[key] for key in keys.split("=") if key in os.environ}}
try:
    os.execve(argv[0], argv, env)
except OSError as exc:
    sys.stderr.write(f"{CANNOT_EXECUTE}: {{exc.strerror or exc}}\\n")
    sys.exit({_CANNOT_EXECUTE_STATUS})
"""


def launcher_argv(
    argv: Sequence[str],
    *,
    rlimits: Iterable[tuple[str, int, int]],
    env_keys: Iterable[str],
    ignore_signals: Iterable[str] = (),
    nice: int = 0,
    die_with_parent: bool = False,
) -> list[str]:
    """The command that runs ``argv`` (an absolute program path first) through the launcher.

    Args:
        argv: The program and its arguments.
        rlimits: ``(name, soft, hard)`` triples, e.g. ``("RLIMIT_CPU", 60, 65)``; a value above
            the current hard limit is lowered to it, since only privileged processes may raise it.
        env_keys: The names of the variables the program gets (the values come from the
            launcher's own environment, which the caller sets).
        ignore_signals: Signal names the program starts with ignored, e.g. ``"SIGINT"``.
        nice: Added to the launcher's niceness (``os.nice``, as ``nice -n`` does) before
            ``exec``: the program and everything it starts run at a lower CPU priority;
            0 leaves it unchanged.
        die_with_parent: The program is killed when the thread that starts the launcher ends;
            only for processes started from a thread that lives as long as the service.

    Raises:
        RuntimeError: Python cannot name its own interpreter (an embedded or frozen build).
    """
    if not sys.executable:
        raise RuntimeError("sys.executable is empty, so the launcher cannot be started")
    limits = ",".join(f"{name}:{soft}:{hard}" for name, soft, hard in rlimits)
    # "=" cannot occur in a variable's name, so it separates the names unambiguously.
    keys = "=".join(env_keys)
    ignored = ",".join(ignore_signals)
    parent = str(os.getpid() if die_with_parent else 0)
    return [
        sys.executable,
        "-I",
        "-S",
        "-c",
        _CODE,
        parent,
        limits,
        str(nice),
        keys,
        ignored,
        *argv,
    ]


def cannot_execute(returncode: int | None, tail: Sequence[str]) -> str | None:
    """Why the launcher could not ``exec`` its program (e.g. ``Exec format error``), else None."""
    if returncode != _CANNOT_EXECUTE_STATUS:
        return None
    for line in tail:
        if line.startswith(CANNOT_EXECUTE):
            return line.removeprefix(CANNOT_EXECUTE).lstrip(": ")
    return None
