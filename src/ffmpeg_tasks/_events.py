"""Task events: made once, where a state change is stored, for applications and webhooks.

Every change goes through ``Transitions``, which asks :class:`TaskEvents` what the change tells
(:meth:`TaskEvents.prepare`), stores the change together with the webhook deliveries of that
event, and, once the store took it, hands the event to this process's subscribers
(:meth:`TaskEvents.publish`). A change another process made is delivered as a webhook by
whichever process delivers first, but is not seen by this process's subscribers.

A subscriber never holds a run up: each has a bounded buffer; a newer progress event of a task
replaces its unread one, and once ``buffer`` events are unread the oldest is dropped (and
counted in :attr:`EventStream.dropped`).
"""

from __future__ import annotations

import enum
import json
import logging
import math
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Self

import anyio
import attrs

from ._deliveries import Delivery
from ._models import Task, TaskStatus, utcnow
from ._task_json import task_json

__all__ = ["DEFAULT_EVENT_BUFFER", "EventStream", "EventType", "TaskEvent", "TaskEvents"]

logger = logging.getLogger("ffmpeg_tasks")

#: Unread events an :class:`EventStream` keeps before it drops the oldest.
DEFAULT_EVENT_BUFFER = 1000


class EventType(enum.StrEnum):
    """What happened to a task; also the ``type`` of a webhook's body."""

    #: A run claimed it (once per attempt).
    STARTED = "task.started"
    #: A running task's phase or progress changed.
    PROGRESS = "task.progress"
    COMPLETED = "task.completed"
    FAILED = "task.failed"
    CANCELLED = "task.cancelled"


_ENDINGS = {
    TaskStatus.COMPLETED: EventType.COMPLETED,
    TaskStatus.FAILED: EventType.FAILED,
    TaskStatus.CANCELLED: EventType.CANCELLED,
}


def ending(status: TaskStatus) -> EventType | None:
    """The event of a task reaching ``status``, None for one that is not an end."""
    return _ENDINGS.get(status)


@attrs.frozen(kw_only=True)
class TaskEvent:
    """One change of one task, as this process stored it."""

    #: Unique: webhooks send it as ``webhook-id`` on every attempt.
    id: str
    type: EventType
    #: The task as the change stored it.
    task: Task
    #: When it happened (UTC).
    at: datetime


def webhook_body(event: TaskEvent) -> str:
    """The body every attempt of the event's webhooks sends: ``{"type", "timestamp", "data"}``
    as the Standard Webhooks spec suggests, ``data`` being the task as the HTTP API shows it."""
    data = task_json(event.task)
    body = {"type": event.type.value, "timestamp": data_time(event.at), "data": data}
    return json.dumps(body, separators=(",", ":"))


def data_time(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


@attrs.frozen
class Prepared:
    """An event about to be stored, with the deliveries that tell it."""

    event: TaskEvent
    deliveries: tuple[Delivery, ...]


class EventStream:
    """The events of one manager from the moment it was made, read with ``async for``.

    Close it (``async with manager.events() as events``, or :meth:`aclose`) to stop
    receiving; iteration then ends.
    """

    def __init__(self, owner: TaskEvents, buffer: int) -> None:
        self._owner = owner
        self._buffer = buffer
        self._queue: deque[TaskEvent] = deque()
        self._ready: anyio.Event | None = None
        self._closed = False
        #: Events dropped because this stream's reader fell ``buffer`` events behind.
        self.dropped = 0

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> TaskEvent:
        while not self._queue:
            if self._closed:
                raise StopAsyncIteration
            self._ready = anyio.Event()
            await self._ready.wait()
        return self._queue.popleft()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop receiving; what is buffered is still read, then iteration ends."""
        self.close()

    def close(self) -> None:
        self._closed = True
        self._owner.unsubscribe(self)
        self._wake()

    def push(self, event: TaskEvent) -> None:
        """Buffer ``event`` without waiting: see the module's rule for slow readers."""
        if self._closed:
            return
        if event.type is EventType.PROGRESS:
            for index in range(len(self._queue) - 1, -1, -1):
                queued = self._queue[index]
                if queued.task.id == event.task.id and queued.type is EventType.PROGRESS:
                    self._queue[index] = event  # only the newest progress matters
                    return
                if queued.task.id == event.task.id:
                    break  # never move progress ahead of a change that came before it
        if len(self._queue) >= self._buffer:
            self._queue.popleft()
            if not self.dropped:
                logger.warning(
                    "an event stream's reader is %d events behind: the oldest are dropped",
                    self._buffer,
                )
            self.dropped += 1
        self._queue.append(event)
        self._wake()

    def _wake(self) -> None:
        if self._ready is not None:
            self._ready.set()


class TaskEvents:
    """One manager's events: what a change tells, its webhook deliveries, its subscribers.

    Args:
        endpoints: URLs every event of every task goes to, besides the task's own.
        progress_interval: Least seconds between two progress webhooks of a task; None for
            no progress webhooks (subscribers get every progress event).
        trace_context: The W3C context of the current span, stored with each delivery.
        queued: Called after deliveries were stored (wakes the sender).
    """

    def __init__(
        self,
        *,
        endpoints: Sequence[str] = (),
        progress_interval: float | None = None,
        trace_context: Callable[[], Mapping[str, str]] = dict,
        queued: Callable[[], None] = lambda: None,
    ) -> None:
        self._endpoints = tuple(endpoints)
        self._progress_interval = progress_interval
        self._trace_context = trace_context
        self._queued = queued
        self._streams: list[EventStream] = []
        #: Task id -> when (``anyio.current_time``) its last progress webhook was made.
        self._last_progress: dict[str, float] = {}

    def prepare(self, task: Task, event_type: EventType | None) -> Prepared | None:
        """The event of storing ``task`` (None: no event), with its deliveries."""
        if event_type is None:
            return None
        event = TaskEvent(id=f"evt_{uuid.uuid4().hex}", type=event_type, task=task, at=utcnow())
        urls = self._urls(task, event_type)
        if not urls:
            return Prepared(event, ())
        body = webhook_body(event)
        # the span making the change (a run's), else the one that registered the task
        context = dict(self._trace_context() or task.trace_context)
        deliveries = tuple(
            Delivery(
                event_id=event.id,
                url=url,
                task_id=task.id,
                event_type=event_type.value,
                payload=body,
                created_at=event.at,
                next_attempt_at=event.at,
                trace_context=context,
            )
            for url in urls
        )
        return Prepared(event, deliveries)

    def publish(self, prepared: Prepared | None) -> None:
        """Hand a stored event to the subscribers; wake the sender for its deliveries."""
        if prepared is None:
            return
        if prepared.event.task.status.is_terminal:
            self._last_progress.pop(prepared.event.task.id, None)
        for stream in list(self._streams):
            stream.push(prepared.event)
        if prepared.deliveries:
            self._queued()

    def subscribe(self, buffer: int = DEFAULT_EVENT_BUFFER) -> EventStream:
        """A new stream of every event published from now on."""
        stream = EventStream(self, buffer)
        self._streams.append(stream)
        return stream

    def unsubscribe(self, stream: EventStream) -> None:
        if stream in self._streams:
            self._streams.remove(stream)

    def _urls(self, task: Task, event_type: EventType) -> list[str]:
        own = [task.webhook_url] if task.webhook_url else []
        urls = list(dict.fromkeys([*own, *self._endpoints]))
        if urls and event_type is EventType.PROGRESS:
            if self._progress_interval is None:
                return []
            now = anyio.current_time()
            if now - self._last_progress.get(task.id, -math.inf) < self._progress_interval:
                return []
            self._last_progress[task.id] = now
        return urls
