"""Calls of one event loop's concurrent callers to a database, run in batches.

A caller that finds no batch in flight leads one: it takes every call queued so far, runs them
through the store's ``execute`` (for SQLite: one worker-thread hop and one transaction) and
hands each caller its own result or error; calls queued meanwhile form the next batch, led by
the oldest of them. One caller alone pays one hop per call; 64 at once share hops and commits.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import anyio
import anyio.lowlevel
import attrs

__all__ = ["Batcher", "Call"]

C = TypeVar("C")
T = TypeVar("T")


@attrs.define(eq=False)
class Call(Generic[C]):
    """One queued call: ``function(connection)``, and what came of it."""

    function: Callable[[C], Any]
    #: Whether it writes (a batch with a write runs in one write transaction).
    writes: bool
    result: Any = None
    error: BaseException | None = None
    #: Ran, successfully or not.
    finished: bool = False
    #: Set when the call finished, or when its caller is to lead the next batch.
    woken: anyio.Event = attrs.field(factory=anyio.Event)


@attrs.define
class _Queue(Generic[C]):
    """The calls of one event loop waiting for a batch."""

    waiting: list[Call[C]] = attrs.Factory(list)
    #: A batch is in flight, or its successor's leader was woken.
    busy: bool = False


class Batcher(Generic[C]):
    """Runs calls in batches through ``execute``, which sets every call's ``result`` or
    ``error`` (a blocking store's crosses to a worker thread once per batch).

    Args:
        execute: Runs a batch; holds whatever lock the connection needs.
    """

    def __init__(self, execute: Callable[[Sequence[Call[C]]], Awaitable[None]]) -> None:
        self._execute = execute
        #: Per event loop (a store may be shared by loops of several threads).
        self._queues: dict[anyio.lowlevel.EventLoopToken, _Queue[C]] = {}
        self._lock = threading.Lock()

    async def run(self, function: Callable[[C], T], *, writes: bool) -> T:
        """``function(connection)``'s result, or its exception.

        Once queued, a call runs: a caller cancelled meanwhile sees the cancellation after it
        (as with ``anyio.to_thread.run_sync``).
        """
        token = anyio.lowlevel.current_token()
        with self._lock:
            queue = self._queues.setdefault(token, _Queue())
        call: Call[C] = Call(function, writes)
        queue.waiting.append(call)
        with anyio.CancelScope(shield=True):
            if queue.busy:
                await call.woken.wait()
            if not call.finished:  # nobody was leading, or we were woken to lead
                await self._lead(token, queue)
        await anyio.lowlevel.checkpoint_if_cancelled()
        if call.error is not None:
            raise call.error
        return call.result  # type: ignore[no-any-return]

    async def _lead(self, token: anyio.lowlevel.EventLoopToken, queue: _Queue[C]) -> None:
        queue.busy = True
        batch, queue.waiting = queue.waiting, []
        try:
            await self._execute(batch)
        except Exception as exc:  # noqa: BLE001 - each caller gets it
            for call in batch:
                call.error = call.error or exc
        finally:
            for call in batch:
                call.finished = True
                call.woken.set()
            if queue.waiting:
                queue.waiting[0].woken.set()  # it leads the next batch
            else:
                queue.busy = False
                with self._lock:
                    if not queue.waiting and self._queues.get(token) is queue:
                        del self._queues[token]
