"""Spans (checked with the OpenTelemetry SDK's in-memory exporter), log records carrying
their task, and in-process events."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ffmpeg_tasks import (
    EventType,
    TaskEvent,
    TaskLogFilter,
    TaskManager,
    TaskStatus,
    WebhookSettings,
)
from ffmpeg_tasks.storage import MemoryStore, SqliteStore
from ffmpeg_tasks.testing import FakeFetcher, FakeRunner, FakeUploader

from ..fixtures.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.anyio

URL = "https://media.example/a.mp4"
COMMAND = "-i a.mp4 -c copy out.mp4"


class _WhileRecording(SpanProcessor):
    """Hands ended spans to the exporter only while a test of this module records, so the
    process-wide provider costs the rest of the suite nothing."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self._inner = SimpleSpanProcessor(exporter)
        self.recording = False

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if self.recording:
            self._inner.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        if self.recording:
            self._inner.on_end(span)


_EXPORTER = InMemorySpanExporter()
_PROCESSOR = _WhileRecording(_EXPORTER)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """The spans ended during the test; the SDK is the process's tracer provider."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(_PROCESSOR)
        trace.set_tracer_provider(provider)
    _EXPORTER.clear()
    _PROCESSOR.recording = True
    try:
        yield _EXPORTER
    finally:
        _PROCESSOR.recording = False
        _EXPORTER.clear()


def manager_on(store: Any, **kwargs: Any) -> TaskManager:
    return TaskManager(
        store,
        FakeFetcher({URL: b"AAAA"}),
        kwargs.pop("runner", FakeRunner()),
        FakeUploader(),
        progress_interval=0.0,
        poll_interval=0.05,
        **kwargs,
    )


def named(spans: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [span for span in spans if span.name == name]


async def test_a_run_has_a_span_per_step_and_its_webhooks_join_its_trace(
    spans: InMemorySpanExporter, webhook_receiver: WebhookReceiver
) -> None:
    hook = webhook_receiver.add("/hooks")
    webhooks = WebhookSettings(
        secret=webhook_receiver.secret, allow_private_networks=True, poll_interval=0.05
    )
    async with manager_on(MemoryStore(), webhooks=webhooks) as manager:
        task = await manager.register(COMMAND, {"a.mp4": URL}, "out.mp4", webhook_url=hook)
        assert task.trace_context == {}  # registered outside any span
        done = await manager.execute(task.id)
        assert done.status is TaskStatus.COMPLETED
        with anyio.fail_after(10):
            while len(webhook_receiver.successes()) < 2:
                await anyio.sleep(0.02)
        await anyio.sleep(0.1)  # the delivery spans end once their attempts are recorded
    ended = spans.get_finished_spans()
    [run] = named(ended, "ffmpeg_tasks.run")
    assert run.attributes is not None
    assert run.attributes["task.id"] == task.id
    assert run.attributes["task.status"] == "completed"
    assert run.parent is None  # a trace of its own
    for step in ("fetch", "encode", "check", "upload"):
        [child] = named(ended, f"ffmpeg_tasks.{step}")
        assert child.parent is not None
        assert child.parent.span_id == run.context.span_id
    delivered = named(ended, "ffmpeg_tasks.webhook.deliver")
    assert {span.attributes["webhook.event_type"] for span in delivered if span.attributes} == {
        "task.started",
        "task.completed",
    }
    completed = next(
        s
        for s in delivered
        if s.attributes is not None and s.attributes["webhook.event_type"] == "task.completed"
    )
    assert completed.parent is not None
    assert completed.parent.span_id == run.context.span_id
    assert completed.attributes is not None
    assert completed.attributes["http.response.status_code"] == 204
    sent = next(r for r in webhook_receiver.received if r.json["type"] == "task.completed")
    assert sent.headers["traceparent"].split("-")[1] == f"{run.context.trace_id:032x}"


async def test_a_task_registered_in_a_span_runs_in_its_trace_in_another_manager(
    spans: InMemorySpanExporter, tmp_path: Path
) -> None:
    caller = trace.get_tracer("the-application")
    async with manager_on(SqliteStore(tmp_path / "tasks.db")) as registering:
        with caller.start_as_current_span("POST /ffmpeg/register") as request_span:
            task = await registering.register(COMMAND, {"a.mp4": URL}, "out.mp4", owner="k1")
    async with manager_on(SqliteStore(tmp_path / "tasks.db")) as worker:
        await worker.execute(task.id)
    [run] = named(spans.get_finished_spans(), "ffmpeg_tasks.run")
    registered = request_span.get_span_context()
    assert run.context.trace_id == registered.trace_id
    assert run.parent is not None
    assert run.parent.span_id == registered.span_id
    assert run.attributes is not None
    assert run.attributes["task.owner"] == "k1"


async def test_a_failed_run_says_which_step_failed(spans: InMemorySpanExporter) -> None:
    async with manager_on(MemoryStore(), runner=FakeRunner(fail_with=3)) as manager:
        task = await manager.register(COMMAND, {"a.mp4": URL}, "out.mp4")
        assert (await manager.execute(task.id)).status is TaskStatus.FAILED
    ended = spans.get_finished_spans()
    [run] = named(ended, "ffmpeg_tasks.run")
    assert run.attributes is not None
    assert (run.attributes["task.status"], run.attributes["task.failed_step"]) == (
        "failed",
        "encode",
    )
    [encode] = named(ended, "ffmpeg_tasks.encode")
    assert encode.status.status_code is trace.StatusCode.ERROR
    assert [event.name for event in encode.events] == ["exception"]


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


class LoggingFetcher(FakeFetcher):
    """An adapter of the application's that logs on a logger of its own while fetching."""

    async def fetch(self, url: str, *, destination: Path) -> int:
        logging.getLogger("the-application").warning("fetching %s", url)
        return await super().fetch(url, destination=destination)


async def test_every_record_of_a_run_carries_its_task() -> None:
    handler = _Collect()
    handler.addFilter(TaskLogFilter())
    loggers = [logging.getLogger("the-application"), logging.getLogger("ffmpeg_tasks")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        manager = TaskManager(
            MemoryStore(), LoggingFetcher({URL: b"A"}), FakeRunner(), FakeUploader()
        )
        task = await manager.register(COMMAND, {"a.mp4": URL}, "out.mp4", owner="key-7")
        logging.getLogger("the-application").warning("before the run")
        await manager.execute(task.id)
        await manager.aclose()
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    by_message = {record.getMessage(): record for record in handler.records}
    fetching = by_message[f"fetching {URL}"]
    assert (fetching.task_id, fetching.owner) == (task.id, "key-7")  # type: ignore[attr-defined]
    sandbox = next(r for r in handler.records if r.name == "ffmpeg_tasks")
    assert sandbox.task_id == task.id  # type: ignore[attr-defined]
    before = by_message["before the run"]
    assert (before.task_id, before.owner) == (None, None)  # type: ignore[attr-defined]


async def test_events_in_process_and_the_on_event_callback() -> None:
    called: list[TaskEvent] = []

    async def on_event(event: TaskEvent) -> None:
        called.append(event)
        if event.type is EventType.STARTED:
            raise RuntimeError("a broken callback is logged and the others go on")

    runner = FakeRunner(duration=0.2, steps=4)
    async with manager_on(MemoryStore(), runner=runner, on_event=on_event) as manager:
        async with manager.events() as events:
            task = await manager.register(COMMAND, {"a.mp4": URL}, "out.mp4")
            cancelled = await manager.register(COMMAND, {"a.mp4": URL}, "out.mp4")
            await manager.execute(task.id)
            await manager.cancel(cancelled.id)
            seen: list[TaskEvent] = []
            with anyio.fail_after(5):
                async for event in events:
                    seen.append(event)
                    if event.type is EventType.CANCELLED:
                        break
        with anyio.fail_after(5):
            while len(called) < len(seen):
                await anyio.sleep(0.01)
    types = [event.type for event in seen]
    assert types[0] is EventType.STARTED
    assert types[-2:] == [EventType.COMPLETED, EventType.CANCELLED]
    assert set(types[1:-2]) == {EventType.PROGRESS}
    assert len(types) >= 4
    assert seen[-2].task.status is TaskStatus.COMPLETED
    assert seen[-2].task.log == "fake ffmpeg: done"  # in-process: the whole task
    assert len({event.id for event in seen}) == len(seen)
    # read at once, the callback got every progress event; the stream, read late, the
    # newest of them only (they coalesce)
    assert {event.id for event in seen} <= {event.id for event in called}
    ended = [event.id for event in called if event.type is not EventType.PROGRESS]
    assert ended == [seen[0].id, seen[-2].id, seen[-1].id]
    assert len(called) > len(seen)


async def test_a_dispatched_run_joins_the_trace_of_the_request_that_started_it(
    spans: InMemorySpanExporter,
) -> None:
    """A worker (another manager sharing the store, handed the job by a dispatcher) runs the
    task as a child of the span that registered it."""
    from ffmpeg_tasks.testing import FakeDispatcher

    store, queue = MemoryStore(), FakeDispatcher()
    caller = trace.get_tracer("the-application")
    async with manager_on(store, dispatcher=queue) as api, manager_on(store) as worker:
        with caller.start_as_current_span("POST /ffmpeg/execute") as request_span:
            task = await api.register(COMMAND, {"a.mp4": URL}, "out.mp4")
            await api.start(task.id)
        job = queue.take()
        assert job is not None
        done = await worker.run_dispatched(job.task_id)
        assert done.status is TaskStatus.COMPLETED
    [run] = named(spans.get_finished_spans(), "ffmpeg_tasks.run")
    assert run.context.trace_id == request_span.get_span_context().trace_id
    assert run.parent is not None
    assert run.parent.span_id == request_span.get_span_context().span_id
