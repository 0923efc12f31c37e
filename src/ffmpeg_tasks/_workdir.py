"""The private folder each run works in, and the removal of those a dead process left behind.

Every work folder lives under one root (``workdir_root``, or ``ffmpeg-tasks-<uid>`` in the system
temp folder) beside a lock file of the same name plus ``.lock``. The run's process holds an
exclusive ``flock`` on that file for as long as the folder exists; the kernel releases it when
the process dies, however it dies, so a lock that can be taken marks a dead run's folder, and a
reused pid or another host's clock cannot make a live run's look dead. The lock file gets its
final name only once locked (a rename keeps the lock), so no cleaner ever sees it unlocked
while its run lives.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.to_thread

from ._errors import ConfigurationError

__all__ = ["WORKDIR_PREFIX", "remove_dead_workdirs", "task_workdir", "workdir_root"]

#: Every work folder's name starts with this, so leftovers are easy to recognise.
WORKDIR_PREFIX = "ffmpeg-tasks-"
_LOCK = ".lock"
#: A lock file not yet renamed to its final name.
_NEW = ".new"


def workdir_root(root: Path | None) -> Path:
    """The folder work folders are made in: ``root``, or a private one in the temp folder.

    Raises:
        ConfigurationError: the temp folder's one exists but is not this user's alone.
    """
    if root is not None:
        return root
    path = Path(tempfile.gettempdir()) / f"{WORKDIR_PREFIX}{os.getuid()}"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        info = path.lstat()
    except OSError as exc:
        raise ConfigurationError(f"cannot make the work folder root {path}: {exc}") from exc
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise ConfigurationError(
            f"{path} exists but is not a folder only this user can use; remove it, "
            "or give TaskManager a workdir_root of its own"
        )
    return path


@asynccontextmanager
async def task_workdir(task_id: str, *, root: Path | None = None) -> AsyncIterator[Path]:
    """A fresh folder only this process can read (mode 0700), marked live while in use and
    deleted on exit, even when cancelled."""
    path, lock = await anyio.to_thread.run_sync(_make, workdir_root(root), task_id)
    try:
        yield path
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(_remove, path, lock)


async def remove_dead_workdirs(root: Path | None) -> list[Path]:
    """Remove the work folders under the root whose run's process is gone; returns them.
    A live run's folder (its lock held, by this process or any other) is never touched."""
    return await anyio.to_thread.run_sync(_sweep, workdir_root(root))


def _make(root: Path, task_id: str) -> tuple[Path, int]:
    while True:
        name = f"{WORKDIR_PREFIX}{task_id[:8]}-{secrets.token_hex(4)}"
        new = root / f".{name}{_LOCK}{_NEW}"
        lock = os.open(new, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            os.rename(new, root / f"{name}{_LOCK}")
            path = root / name
            path.mkdir(mode=0o700)
        except FileNotFoundError:
            os.close(lock)  # a cleaner took the new lock file for a dead one's: try again
            continue
        except BaseException:
            _remove(root / name, lock)
            raise
        return path, lock


def _remove(path: Path, lock: int) -> None:
    """Folder first, then its lock file: a folder never outlives its lock file."""
    try:
        shutil.rmtree(path, ignore_errors=True)
        for leftover in (
            path.with_name(path.name + _LOCK),
            path.parent / f".{path.name}{_LOCK}{_NEW}",
        ):
            leftover.unlink(missing_ok=True)
    finally:
        os.close(lock)


def _sweep(root: Path) -> list[Path]:
    removed = []
    for entry in root.iterdir():
        name = entry.name
        if name.startswith(f".{WORKDIR_PREFIX}") and name.endswith(_LOCK + _NEW):
            folder = entry.with_name(name[1 : -len(_LOCK + _NEW)])
        elif name.startswith(WORKDIR_PREFIX) and name.endswith(_LOCK):
            folder = entry.with_name(name[: -len(_LOCK)])
        else:
            continue
        try:
            lock = os.open(entry, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            continue  # removed meanwhile, or not ours to judge
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(lock)
            continue  # held: its run is alive
        if os.fstat(lock).st_nlink == 0:  # its run removed it meanwhile
            os.close(lock)
            continue
        if folder.is_dir() and not folder.is_symlink():
            removed.append(folder)
        shutil.rmtree(folder, ignore_errors=True)
        entry.unlink(missing_ok=True)
        os.close(lock)
    return removed
