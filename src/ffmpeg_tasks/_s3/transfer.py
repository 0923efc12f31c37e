"""Running an s3transfer transfer from async code so that it stops with its caller."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

if TYPE_CHECKING:
    from s3transfer.futures import TransferFuture

__all__ = ["CLEANUP_TIMEOUT", "run_transfer"]

logger = logging.getLogger("ffmpeg_tasks")

#: How long a cancelled transfer may take to clean up (abort the multipart upload) before the
#: caller gives up waiting; the cleanup goes on in s3transfer's threads.
CLEANUP_TIMEOUT = 30.0


class _TransferState:
    """What the event loop and the transfer's worker thread share, under one lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.future: TransferFuture | None = None
        self.cancelled = False
        #: The worker thread began (a thread from the pool may start late, or never).
        self.started = False
        self.finished = threading.Event()


async def run_transfer(start: Callable[[], TransferFuture]) -> TransferFuture:
    """Start an s3transfer transfer in a worker thread and wait for it without blocking the loop.

    A worker thread cannot be stopped, but a transfer can: when the caller is cancelled, the
    transfer is cancelled too and awaited (shielded, up to :data:`CLEANUP_TIMEOUT`) while
    s3transfer runs its cleanups: a multipart upload is aborted, a partial download deleted.
    Then the cancellation goes on; it is never swallowed.

    Args:
        start: Submits the transfer (``TransferManager.upload`` or ``download``); runs in the
            worker thread, so it may block.

    Returns:
        The finished transfer's future (``future.meta.size`` is the bytes moved).

    Raises:
        Exception: whatever ``start`` or the transfer raised (botocore and s3transfer errors,
            OSError, or the adapter's own errors).
    """
    state = _TransferState()

    def work() -> TransferFuture:
        with state.lock:
            if state.cancelled:  # the caller left before this thread got going: nobody
                raise RuntimeError("the transfer was cancelled before it started")  # reads it
            state.started = True
        try:
            future = start()
            with state.lock:
                state.future = future
                if state.cancelled:  # the caller left while the transfer was being submitted
                    future.cancel()
            future.result()
            return future
        finally:
            state.finished.set()

    try:
        return await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
    except BaseException:
        with state.lock:
            state.cancelled = True
            future, started = state.future, state.started
        if not started:
            raise  # nothing was sent, and the thread will not start the transfer
        if future is not None:
            future.cancel()  # a no-op when it has finished (failed) already
        with anyio.CancelScope(shield=True):
            settled = await anyio.to_thread.run_sync(state.finished.wait, CLEANUP_TIMEOUT)
        if not settled:
            logger.warning(
                "an S3 transfer was still cleaning up %g s after it was cancelled; "
                "it goes on in the background",
                CLEANUP_TIMEOUT,
            )
        raise
