"""Following one started ffmpeg to its end: its pipes drained, its progress reported, a stuck
run noticed, and the whole process group stopped and reaped."""

from __future__ import annotations

import os
import signal
from collections import deque
from collections.abc import Callable

import anyio
import anyio.abc

from .._models import Progress
from .._protocols import ProgressCallback
from ._progress import LineSplitter, ProgressTracker
from ._stall import StallWatch

__all__ = ["MAX_LINE_CHARS", "follow", "stop"]

#: No stderr line we keep is longer than this many characters.
MAX_LINE_CHARS = 1000
#: Seconds to wait for a killed process group to be gone (zombies count: they are reaped).
GROUP_EXIT_TIMEOUT = 5.0


async def follow(
    process: anyio.abc.Process,
    tracker: ProgressTracker,
    tail: deque[str],
    on_progress: ProgressCallback | None,
    *,
    stall_timeout: float | None,
) -> bool:
    """Drain both pipes until ffmpeg closes them and it exits, reporting progress as blocks
    complete; returns False early if it is stuck (``stall_timeout``) instead."""
    assert process.stdout is not None
    assert process.stderr is not None
    watch = None if stall_timeout is None else StallWatch(process.pid, stall_timeout)
    noticed = watch.activity if watch is not None else _nothing
    stuck = False
    failure: Exception | None = None
    watching = anyio.CancelScope()
    async with anyio.create_task_group() as group:
        if watch is not None:

            async def give_up_when_stuck() -> None:
                nonlocal stuck
                with watching:
                    await watch.wait()
                    stuck = True
                    group.cancel_scope.cancel()

            group.start_soon(give_up_when_stuck)
        group.start_soon(_drain_stderr, process.stderr, tracker, tail, noticed)
        try:
            await _read_progress(process.stdout, tracker, on_progress, noticed)
            await process.wait()
        except Exception as exc:  # noqa: BLE001 - re-raised below, unwrapped from the group
            failure = exc
            group.cancel_scope.cancel()
        watching.cancel()  # stderr is read to its end; only the watchdog stops here
    if failure is not None:
        raise failure
    return not stuck


async def _read_progress(
    stream: anyio.abc.ByteReceiveStream,
    tracker: ProgressTracker,
    on_progress: ProgressCallback | None,
    noticed: Callable[[], None],
) -> None:
    splitter = LineSplitter(MAX_LINE_CHARS)
    last: Progress | None = None
    async for chunk in stream:
        for line in splitter.feed(chunk):
            progress = tracker.stdout_line(line)
            if progress is None:
                continue
            if last is None or _moved(last, progress):
                noticed()
            last = progress
            if on_progress is not None:
                await on_progress(progress)


def _moved(before: Progress, after: Progress) -> bool:
    return (before.out_time, before.frame, before.total_size, before.done) != (
        after.out_time,
        after.frame,
        after.total_size,
        after.done,
    )


async def _drain_stderr(
    stream: anyio.abc.ByteReceiveStream,
    tracker: ProgressTracker,
    tail: deque[str],
    noticed: Callable[[], None],
) -> None:
    splitter = LineSplitter(MAX_LINE_CHARS)
    async for chunk in stream:
        for line in splitter.feed(chunk):
            noticed()
            tail.append(line)
            tracker.stderr_line(line)
    tail.extend(splitter.flush())


def _nothing() -> None:
    """Activity is not watched."""


async def stop(process: anyio.abc.Process, grace: float) -> None:
    """Stop ffmpeg and anything it started: SIGINT, SIGTERM, SIGKILL, then reap.

    Call shielded. The pipes are closed first, so a stopping ffmpeg can never block writing to
    a pipe nobody reads any more (ffmpeg ignores SIGPIPE and carries on).
    """
    if process.returncode is None:
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                await stream.aclose()
        for signum in (signal.SIGINT, signal.SIGTERM):
            _signal_group(process.pid, signum)
            with anyio.move_on_after(grace):
                await process.wait()
            if process.returncode is not None:
                break
    # Whatever happened to the leader, nothing of its group may survive it. SIGKILL is
    # delivered asynchronously, and a sandbox's namespace takes a moment to tear down: wait
    # until the group is empty (no event tells when it is: poll it, quickly at first).
    _signal_group(process.pid, signal.SIGKILL)
    await process.wait()
    pause, waited = 0.005, 0.0
    while _signal_group(process.pid, 0) and waited < GROUP_EXIT_TIMEOUT:
        await anyio.sleep(pause)
        waited += pause
        pause = min(pause * 2, 0.1)


def _signal_group(pgid: int, signum: int) -> bool:
    """Signal every process in the group; False when the group is empty."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # a member changed its user id; signal what we may and let it be
    return True
