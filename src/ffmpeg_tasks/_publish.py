"""Storing a run's outputs: several at once (bounded), all or nothing.

The first failure stops the uploads still running, and a failure or a cancel deletes what
this run had stored already (the uploaders themselves remove an upload cut short), so a
task never ends with half a ladder stored.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

import anyio
import anyio.abc

from ._errors import FfmpegTasksError, UploadError
from ._models import Output
from ._output_files import OutputFile
from ._protocols import Uploader

__all__ = ["MAX_PARALLEL_UPLOADS", "upload_all"]

logger = logging.getLogger("ffmpeg_tasks")

#: Outputs uploaded at once by one run.
MAX_PARALLEL_UPLOADS = 8
#: Seconds the clean-up of a failed or cancelled run's stored outputs may take.
CLEANUP_TIMEOUT = 60.0


async def upload_all(
    uploader: Uploader,
    files: Sequence[OutputFile],
    *,
    task_id: str,
    stored_all: Callable[[list[Output]], None],
    stored_part: Callable[[float], Awaitable[None]] | None = None,
    limit: int = MAX_PARALLEL_UPLOADS,
) -> list[Output]:
    """Upload every file; return their outputs in the order of ``files``.

    ``stored_all`` is called with them the moment the last one is stored, before any other
    await: a cancel that arrives after that finds the work done and deletes nothing.

    Args:
        uploader: Where they go.
        files: The outputs found after the run.
        task_id: The task they belong to.
        stored_part: Awaited after each output but the last is stored, with the share of
            the bytes (of the files, when all are empty) stored so far.
        limit: Most uploads at once.

    Raises:
        UploadError: the first upload that failed; nothing of this run is left stored.
    """
    limiter = anyio.CapacityLimiter(limit)
    stored: dict[str, Output] = {}
    total = sum(file.size for file in files)
    stored_bytes = 0
    failures: list[FfmpegTasksError] = []

    async def upload(file: OutputFile, group: anyio.abc.TaskGroup) -> None:
        async with limiter:
            try:
                output = await uploader.upload(file.path, task_id=task_id, name=file.name)
            except FfmpegTasksError as exc:
                failures.append(exc)
                group.cancel_scope.cancel()
                return
            except Exception as exc:  # noqa: BLE001 - an adapter bug still fails only this task
                failures.append(UploadError(f"output {file.name!r}: {type(exc).__name__}: {exc}"))
                group.cancel_scope.cancel()
                return
        nonlocal stored_bytes
        stored[file.name] = output
        stored_bytes += file.size
        if len(stored) == len(files):
            stored_all([stored[f.name] for f in files])
        elif stored_part is not None:
            await stored_part(stored_bytes / total if total else len(stored) / len(files))

    try:
        async with anyio.create_task_group() as group:
            for file in files:
                group.start_soon(upload, file, group)
        if failures:
            raise failures[0]
    except BaseException:
        if len(stored) == len(files):
            raise  # every output is stored: the task is done, whatever stopped us now
        with anyio.CancelScope(shield=True) as scope:
            scope.deadline = anyio.current_time() + CLEANUP_TIMEOUT
            await _delete(uploader, task_id, list(stored))
        raise
    return [stored[file.name] for file in files]


async def _delete(uploader: Uploader, task_id: str, names: list[str]) -> None:
    """Delete what this run stored, a few at once; a failure is logged, as nobody is left to
    tell (the task's error says why it failed)."""
    limiter = anyio.CapacityLimiter(MAX_PARALLEL_UPLOADS)

    async def delete(name: str) -> None:
        async with limiter:
            try:
                await uploader.delete(task_id=task_id, name=name)
            except Exception:
                logger.warning(
                    "task %s: could not delete output %r after the run failed",
                    task_id,
                    name,
                    exc_info=True,
                )

    async with anyio.create_task_group() as group:
        for name in names:
            group.start_soon(delete, name)
