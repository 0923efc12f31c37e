"""bubblewrap: ffmpeg in its own namespaces, seeing its binary, the system libraries and one folder.

``bwrap`` builds an empty root (a tmpfs) and mounts into it only what is listed here:

- read-only: ``/usr`` and the top-level ``/bin``, ``/sbin``, ``/lib*`` (recreated as symlinks
  on merged-``/usr`` systems), the dynamic loader's cache ``/etc/ld.so.cache`` and Debian's
  ``/etc/alternatives`` (a dynamically linked ffmpeg finds ``libblas.so.3`` through it), the
  ffmpeg binary, and any extra paths the operator names;
- read-write: the task's working folder, at its own path, as the working directory;
- private: a fresh read-only ``/dev`` (``null``, ``zero``, ``urandom``... which still work), a
  ``/proc`` of its own pid namespace.

Nothing else of ``/etc``, ``/home``, ``/root``, ``/var`` or the rest of the host exists inside,
and the root is made read-only last: the working folder is the only place ffmpeg can write.
There is no ``/tmp``: ffmpeg does not need one, and a writable tmpfs would let a job fill
memory with files.
``--unshare-all`` gives ffmpeg new user, pid, network, ipc, uts and cgroup namespaces: no
network at all (only a loopback of its own), no other process visible or signalable.
``--cap-drop ALL`` takes every capability away, also when the runner runs as root.
``--as-pid-1`` makes ffmpeg itself pid 1 of its namespace, without bwrap's reaper process in
between: bwrap then reaps ffmpeg before it exits, where the reaper would exit first and linger
as a zombie until the host's init collected it, keeping the process group alive meanwhile. As
pid 1, ffmpeg only receives signals it handles (``SIGINT``, ``SIGTERM``, ``SIGXCPU``) and
``SIGKILL``; ``SIGXFSZ`` is dropped, so a write beyond the file size limit fails with
``EFBIG`` ("File too large") instead of killing it.

Two flags are left out on purpose. ``--new-session`` would move ffmpeg out of the process group
the runner signals to stop it; its purpose (no access to a controlling terminal, CVE-2017-5226)
is already served because the runner starts the group in a new session, without a terminal.
``--die-with-parent`` is used except under trio: it relies on ``PR_SET_PDEATHSIG``, which fires
when the *thread* that started the process ends, and trio starts processes from worker threads
that end after 10 s idle, which would kill every longer run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import anyio
import attrs

from .._errors import ConfigurationError
from ._binary import ffmpeg_version, parse_version, scrubbed_env

__all__ = [
    "INSTALL_HINT",
    "MODES",
    "SandboxMode",
    "SandboxStatus",
    "bwrap_args",
    "check_sandbox",
    "find_bwrap",
    "started_from_worker_threads",
]

#: How the runner isolates ffmpeg: bubblewrap if it works, bubblewrap or fail, or never.
SandboxMode = Literal["auto", "bubblewrap", "none"]
#: Every valid :data:`SandboxMode`.
MODES: tuple[SandboxMode, ...] = ("auto", "bubblewrap", "none")
#: How to get bubblewrap on Debian and Ubuntu.
INSTALL_HINT = "apt-get install bubblewrap"
#: Seconds the start-up probe may take.
PROBE_TIMEOUT = 15.0

#: Top-level system folders: bound read-only when real folders, recreated when symlinks.
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: System files a dynamically linked ffmpeg may need; bound read-only when present.
_LOADER_FILES = ("/etc/ld.so.cache", "/etc/alternatives")
_USERNS_HINT = (
    "allow user namespaces (a container needs e.g. docker run --security-opt "
    "seccomp=unconfined --security-opt apparmor=unconfined), or set sandbox='none' and make the "
    "container itself the sandbox"
)


@attrs.frozen(kw_only=True)
class SandboxStatus:
    """Whether runs are sandboxed, found once by :func:`check_sandbox`."""

    #: The bwrap binary, when the sandbox is on.
    bwrap: Path | None = None
    #: ``bwrap --version``, e.g. ``"bubblewrap 0.8.0"``, when the sandbox is on.
    version: str | None = None
    #: Why the sandbox is off, with what to do about it; empty when it is on.
    reason: str = ""
    #: Set when ffmpeg fails outside the sandbox too: the error that says so.
    ffmpeg_error: str | None = None

    @property
    def active(self) -> bool:
        return self.bwrap is not None


def bwrap_args(
    bwrap: Path,
    *,
    ffmpeg: Path,
    workdir: Path | None,
    read_only: Sequence[Path] = (),
    die_with_parent: bool = True,
    unset_env: Sequence[str] = (),
) -> list[str]:
    """The ``bwrap`` command line up to ``--``; append the ffmpeg command to it.

    Args:
        bwrap: The bubblewrap binary.
        ffmpeg: The binary that will run inside (bound read-only at the same path).
        workdir: The folder bound read-write and made the working directory; None for ``/``.
        read_only: More files or folders to bind read-only, each at its own path.
        die_with_parent: Kill the sandbox when the thread that started bwrap ends.
        unset_env: Names of variables bwrap removes from the environment it passes on.
    """
    args = [os.fspath(bwrap), "--unshare-all", "--as-pid-1", "--cap-drop", "ALL"]
    if die_with_parent:
        args.append("--die-with-parent")
    for name in unset_env:
        args += ["--unsetenv", name]
    for folder in _SYSTEM_DIRS:
        if os.path.islink(folder):
            args += ["--symlink", os.readlink(folder), folder]
        elif os.path.isdir(folder):
            args += ["--ro-bind", folder, folder]
    for file in _LOADER_FILES:
        if os.path.exists(file):
            args += ["--ro-bind", file, file]
    args += ["--dev", "/dev", "--remount-ro", "/dev", "--proc", "/proc"]
    for path in read_only:
        args += ["--ro-bind", os.path.realpath(path), os.fspath(path)]
    if workdir is not None:
        args += ["--bind", os.path.realpath(workdir), os.fspath(workdir)]
    args += ["--ro-bind", os.path.realpath(ffmpeg), os.fspath(ffmpeg)]
    # Last, once every mount point exists: the root itself (a tmpfs) becomes read-only.
    args += ["--remount-ro", "/", "--chdir", "/" if workdir is None else os.fspath(workdir), "--"]
    return args


def find_bwrap(
    explicit: str | os.PathLike[str] | None, environ: Mapping[str, str] | None = None
) -> tuple[Path | None, str]:
    """The bwrap binary, or None and why not (with the install hint)."""
    env = os.environ if environ is None else environ
    search_path = env.get("PATH", os.defpath)
    if explicit is None:
        found = shutil.which("bwrap", path=search_path)
        if found is None:
            return None, f"bwrap was not found on PATH; install bubblewrap: {INSTALL_HINT}"
        return Path(os.path.abspath(found)), ""
    value = os.fspath(explicit)
    if os.sep not in value:
        value = shutil.which(value, path=search_path) or value
    path = Path(os.path.abspath(value))
    if not (path.is_file() and os.access(path, os.X_OK)):
        return None, (
            f"bwrap {str(path)!r} (the bwrap= argument) is not an executable file; fix the path "
            f"or install bubblewrap: {INSTALL_HINT}"
        )
    return path, ""


async def check_sandbox(
    mode: SandboxMode,
    *,
    bwrap: str | os.PathLike[str] | None,
    ffmpeg: Path,
    read_only: Sequence[Path] = (),
) -> SandboxStatus:
    """Find bwrap and prove it can run ``ffmpeg -version`` in the sandbox runs will use.

    Never raises: a sandbox that cannot be used is reported with the reason, and the runner
    decides (``"auto"`` runs unsandboxed, ``"bubblewrap"`` refuses to run).
    """
    if mode == "none":
        return SandboxStatus(reason="sandbox='none' was chosen")
    path, why_not = await anyio.to_thread.run_sync(find_bwrap, bwrap)
    if path is None:
        return SandboxStatus(reason=why_not)
    try:
        version = await _output([os.fspath(path), "--version"])
        sandboxed = bwrap_args(
            path,
            ffmpeg=ffmpeg,
            workdir=None,
            read_only=read_only,
            die_with_parent=not started_from_worker_threads(),
        )
        parse_version(await _output([*sandboxed, os.fspath(ffmpeg), "-version"]))
    except (_ProbeFailed, ValueError) as failure:
        try:  # whose fault: the sandbox's, or ffmpeg's wherever it runs?
            await ffmpeg_version(ffmpeg)
        except ConfigurationError as exc:
            return SandboxStatus(
                reason=f"ffmpeg does not work, sandboxed or not ({exc})", ffmpeg_error=str(exc)
            )
        if isinstance(failure, _ProbeFailed):
            return SandboxStatus(reason=failure.reason)
        return SandboxStatus(reason="ffmpeg -version printed something unexpected inside bwrap")
    return SandboxStatus(bwrap=path, version=(version.strip() or "bubblewrap").splitlines()[0])


def started_from_worker_threads() -> bool:
    """Whether child processes start from short-lived threads (trio), not the event loop's."""
    trio = sys.modules.get("trio")
    if trio is None:
        return False
    try:
        trio.lowlevel.current_trio_token()
    except RuntimeError:
        return False
    return True


class _ProbeFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def _output(command: list[str]) -> str:
    """Run a probe command; its stdout, or :class:`_ProbeFailed` saying whose fault it was."""
    try:
        with anyio.fail_after(PROBE_TIMEOUT):
            result = await anyio.run_process(
                command, stdin=subprocess.DEVNULL, env=scrubbed_env(), check=False
            )
    except TimeoutError:
        raise _ProbeFailed(f"{command[0]} did not answer within {PROBE_TIMEOUT:g} s") from None
    except OSError as exc:
        raise _ProbeFailed(
            f"bwrap {command[0]!r} cannot run ({exc.strerror or exc}); {INSTALL_HINT}"
        ) from exc
    if result.returncode == 0:
        return result.stdout.decode("utf-8", "replace")
    lines = result.stderr.decode("utf-8", "replace").strip().splitlines()
    line = lines[0] if lines else f"exit status {result.returncode}"
    if line.startswith("bwrap:") and "Can't find source path" in line:
        raise _ProbeFailed(f"a path to bind is missing ({line}); fix sandbox_paths=")
    if line.startswith("bwrap:") and "execvp" not in line:
        raise _ProbeFailed(f"bwrap cannot create the sandbox here ({line}); {_USERNS_HINT}")
    raise _ProbeFailed(
        f"ffmpeg does not run inside bwrap ({line}); if it needs files outside /usr (its own "
        "libraries), list their folders in sandbox_paths="
    )
