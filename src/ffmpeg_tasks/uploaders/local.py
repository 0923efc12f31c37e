"""Outputs into a folder on this machine: the default when no cloud store is configured."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path

import anyio.lowlevel
import anyio.to_thread
from anyio.abc import AsyncResource

from .._defaults import DEFAULT_OUTPUT_DIR
from .._errors import UploadError
from .._models import Output
from .._names import check_file_name

__all__ = ["LocalUploader"]


class LocalUploader(AsyncResource):
    """Stores each output as ``directory/<task id>/<name>`` and answers with a ``file://`` URL.

    Writes are atomic: the file is copied (in the kernel, with ``sendfile``) under a temporary
    name beside the destination and then hard-linked into place. A link fails rather than
    replaces when the name exists, so no reader ever sees half a file and no task overwrites
    another's output. The source is copied, never linked, so the stored output cannot change
    when the source does.
    """

    def __init__(self, directory: str | os.PathLike[str] = DEFAULT_OUTPUT_DIR) -> None:
        self._directory = Path(directory).expanduser().absolute()
        #: Mode of stored files: what ``open()`` would give them under this process's umask.
        self._file_mode = 0o666 & ~_umask()

    def __repr__(self) -> str:
        return f"LocalUploader({str(self._directory)!r})"

    @property
    def directory(self) -> Path:
        """The folder outputs go to."""
        return self._directory

    async def upload(self, path: Path, *, task_id: str, name: str) -> Output:
        check_file_name(task_id, "task id", error=UploadError)
        check_file_name(name, "output", error=UploadError)
        stored = threading.Event()
        try:
            output = await anyio.to_thread.run_sync(self._store, Path(path), task_id, name, stored)
            # A cancel that arrived while the copy ran (a thread cannot be interrupted) is
            # delivered here, and the task ends cancelled: it must leave no output behind.
            await anyio.lowlevel.checkpoint_if_cancelled()
        except anyio.get_cancelled_exc_class():
            if stored.is_set():  # ours: never a file that was there before
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(self._discard, task_id, name)
            raise
        return output

    async def delete(self, *, task_id: str, name: str) -> None:
        """Remove a stored output (and the task's folder once empty); a missing one is fine."""
        check_file_name(task_id, "task id", error=UploadError)
        check_file_name(name, "output", error=UploadError)
        try:
            await anyio.to_thread.run_sync(self._discard, task_id, name)
        except OSError as exc:
            raise UploadError(
                f"could not delete {self._directory / task_id / name}: {exc.strerror or exc}"
            ) from exc

    def _store(self, source: Path, task_id: str, name: str, stored: threading.Event) -> Output:
        folder = self._directory / task_id
        destination = folder / name
        if not source.is_file() or source.is_symlink():
            raise UploadError(f"output {name!r} is not a regular file; refusing to store it")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self._copy_then_link(source, destination)
            stored.set()
        except FileExistsError:
            raise UploadError(
                f"{destination} exists already; outputs are never overwritten"
            ) from None
        except OSError as exc:
            raise UploadError(f"could not write {destination}: {exc.strerror or exc}") from exc
        return Output(name=name, url=destination.as_uri(), size=destination.stat().st_size)

    def _discard(self, task_id: str, name: str) -> None:
        folder = self._directory / task_id
        (folder / name).unlink(missing_ok=True)
        try:
            folder.rmdir()  # only when empty: another output of the task may be there
        except OSError:
            pass

    def _copy_then_link(self, source: Path, destination: Path) -> None:
        fd, temporary = tempfile.mkstemp(
            prefix=f".{destination.name}.", suffix=".part", dir=destination.parent
        )
        try:
            os.fchmod(fd, self._file_mode)  # mkstemp makes 0600, as for a secret
        finally:
            os.close(fd)
        try:
            shutil.copyfile(source, temporary)
            os.link(temporary, destination)
        finally:
            os.unlink(temporary)

    async def aclose(self) -> None:
        """Nothing to release."""


def _umask() -> int:
    """The process's umask, read once when an uploader is made (reading it means setting it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
