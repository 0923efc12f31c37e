"""``ffmpeg-tasks worker``: a process that runs the tasks an API hands out through procrastinate,
configured by the same environment variables as ``ffmpeg-tasks serve``."""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Mapping, Sequence

import anyio

from .._config import build_dispatcher, settings_from_env
from .._defaults import DEFAULT_LEASE
from .._errors import ConfigurationError
from .._manager import TaskManager

__all__ = ["work"]

logger = logging.getLogger("ffmpeg_tasks")


async def work(
    *,
    concurrency: int,
    queues: Sequence[str],
    grace: float | None,
    name: str | None,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Take jobs until SIGTERM or SIGINT; then drain: no new jobs, the runs going get
    ``grace`` seconds, the rest are handed back to the queue (a second signal hands them back
    at once).

    Raises:
        ConfigurationError: ``FFMPEG_TASKS_WORKERS`` is not ``procrastinate``, or a variable
            is unusable (before any job is taken).
    """
    settings = settings_from_env(environ)
    if settings.workers != "procrastinate":
        raise ConfigurationError(
            "ffmpeg-tasks worker takes its tasks from procrastinate's queue: set "
            "FFMPEG_TASKS_WORKERS=procrastinate and FFMPEG_TASKS_DATABASE to the PostgreSQL "
            "database of the API (`ffmpeg-tasks serve` with the same variables)"
        )
    from .procrastinate import ProcrastinateDispatcher, ProcrastinateWorker

    dispatcher = build_dispatcher(settings)
    assert isinstance(dispatcher, ProcrastinateDispatcher)
    manager = TaskManager.from_env(environ, dispatcher=dispatcher, max_concurrency=concurrency)
    worker = ProcrastinateWorker(
        manager,
        dispatcher,
        concurrency=concurrency,
        queues=queues or None,
        grace=grace,
        name=name,
        lease=float(settings.manager.get("lease", DEFAULT_LEASE)),
    )
    stop = anyio.Event()

    async def on_signals() -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as received:
            async for number in received:
                if stop.is_set():
                    logger.warning("second %s: handing the running tasks back now", number.name)
                    worker.hand_back_now()
                else:
                    logger.warning("%s: taking no more jobs, finishing the runs", number.name)
                stop.set()

    async with manager, anyio.create_task_group() as group:
        group.start_soon(on_signals)
        async with worker:
            print(f"ffmpeg-tasks worker {worker!r} is taking jobs", file=sys.stderr, flush=True)
            await stop.wait()
        group.cancel_scope.cancel()
    print(f"ffmpeg-tasks worker {worker.name!r} stopped", file=sys.stderr, flush=True)
