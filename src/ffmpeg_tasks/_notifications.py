"""A manager's events and webhooks in one room: what its transitions tell (``_events``), the
sender and the outbox it delivers while open (``_outbox``), and the application's callback.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from ._deliveries import Delivery
from ._errors import InvalidTaskError
from ._events import DEFAULT_EVENT_BUFFER, EventStream, TaskEvent, TaskEvents
from ._models import utcnow
from ._outbox import Outbox
from ._protocols import TaskStore
from ._telemetry import Telemetry
from ._tracing import current_trace_context
from ._webhook_sender import WebhookSender
from ._webhook_settings import WebhookSettings

__all__ = ["EventCallback", "Notifications"]

logger = logging.getLogger("ffmpeg_tasks")

#: ``TaskManager(on_event=...)``: awaited with each event, one at a time, off the runs' path.
EventCallback = Callable[[TaskEvent], Awaitable[None]]
Service = Callable[[], Coroutine[Any, Any, None]]


class Notifications:
    """Events, webhooks and the event callback of one manager.

    Args:
        store: Where the outbox is.
        settings: How webhooks are sent; None sends none (deliveries of tasks that have a
            ``webhook_url`` are still queued, for a manager sharing the store that sends).
        telemetry: Spans and metrics of the deliveries.
        on_event: The application's callback, while the manager is open.
    """

    def __init__(
        self,
        store: TaskStore,
        *,
        settings: WebhookSettings | None,
        telemetry: Telemetry,
        on_event: EventCallback | None,
    ) -> None:
        self._store = store
        self._settings = settings
        self._sender: WebhookSender | None = None
        self._outbox: Outbox | None = None
        if settings is not None:
            self._sender = WebhookSender(settings)
            self._outbox = Outbox(store, self._sender, settings, telemetry=telemetry)
        self._on_event = on_event
        self.events = TaskEvents(
            endpoints=() if settings is None else settings.endpoints,
            progress_interval=None if settings is None else settings.progress_interval,
            trace_context=current_trace_context,
            queued=self._queued,
        )

    @property
    def settings(self) -> WebhookSettings | None:
        return self._settings

    def open(self, start_service: Callable[[Service], None]) -> None:
        """Start delivering the outbox and calling ``on_event`` (the manager opens)."""
        if self._outbox is not None:
            start_service(self._outbox.keep_delivering)
        if self._on_event is not None:
            stream = self.events.subscribe()  # now: no event of the opening is missed
            callback = self._on_event

            async def call_back() -> None:
                try:
                    async for event in stream:
                        try:
                            await callback(event)
                        except Exception:
                            logger.exception(
                                "task %s: the on_event callback failed on %s",
                                event.task.id,
                                event.type.value,
                            )
                finally:
                    stream.close()

            start_service(call_back)

    def subscribe(self, buffer: int = DEFAULT_EVENT_BUFFER) -> EventStream:
        return self.events.subscribe(buffer)

    async def check_url(self, url: object) -> None:
        """Refuse a task's ``webhook_url`` this manager would not call.

        Raises:
            InvalidTaskError: this manager sends no webhooks, or the URL breaks a rule; the
                message says which.
        """
        if self._sender is None:
            raise InvalidTaskError(
                "this service sends no webhooks: register the task without webhook_url (its "
                "operator turns them on with TaskManager(webhooks=WebhookSettings(secret=...)) "
                "or FFMPEG_TASKS_WEBHOOK_SECRET)"
            )
        await self._sender.check(url)

    async def deliveries(self, task_id: str) -> Sequence[Delivery]:
        return await self._store.list_deliveries([task_id])

    async def redeliver(self, task_id: str) -> Sequence[Delivery]:
        if self._outbox is not None:
            return await self._outbox.redeliver(task_id)
        return await self._store.requeue_deliveries(task_id, at=utcnow())

    async def deliver_due(self) -> int:
        """Attempt what is due now, in this coroutine (a manager that is not open)."""
        if self._outbox is None:
            return 0
        return await self._outbox.deliver_due()

    async def aclose(self) -> None:
        if self._sender is not None:
            await self._sender.aclose()

    def _queued(self) -> None:
        if self._outbox is not None:
            self._outbox.wake()
