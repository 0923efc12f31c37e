"""The private folder each task runs in, removed whatever happens."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.to_thread

__all__ = ["task_workdir"]

#: Every work folder's name starts with this, so leftovers are easy to recognise.
WORKDIR_PREFIX = "ffmpeg-tasks-"


@asynccontextmanager
async def task_workdir(task_id: str, *, root: Path | None = None) -> AsyncIterator[Path]:
    """A fresh folder only this process can read (mode 0700), deleted on exit even when cancelled."""
    path = Path(
        await anyio.to_thread.run_sync(
            lambda: tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{task_id[:8]}-", dir=root)
        )
    )
    try:
        yield path
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(lambda: shutil.rmtree(path, ignore_errors=True))
