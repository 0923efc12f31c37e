"""What a manager measures (the :class:`Metrics` port) and traces, in one place for the runs
and the webhook sender: a span, a duration and a log context per run and per step.

``ffmpeg_tasks.integrations.prometheus.PrometheusMetrics`` is the shipped :class:`Metrics`;
without one, nothing is measured. Spans need the ``tracing`` extra (``_tracing``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol

import attrs

from ._deliveries import Delivery
from ._log_context import task_logging
from ._models import Task, TaskStatus
from ._tracing import set_attributes, span

if TYPE_CHECKING:
    from opentelemetry.trace import Span

__all__ = ["Metrics", "RunTelemetry", "Telemetry"]


class Metrics(Protocol):
    """Where a manager's measurements go. Called on the event loop: no blocking calls."""

    def run_started(self, *, queue_wait: float | None) -> None:
        """A run claimed its task ``queue_wait`` seconds after it was registered (None for a
        retry, whose wait would count the earlier attempts)."""
        ...

    def run_ended(self, *, status: str, seconds: float, failed_step: str | None) -> None:
        """A run ended ``status`` after ``seconds``; ``failed_step`` is where a failed one
        failed: ``fetch``, ``encode``, ``check`` or ``upload``."""
        ...

    def step_ended(self, step: str, seconds: float) -> None:
        """One step of a run (``fetch``, ``encode``, ``check``, ``upload``) took ``seconds``."""
        ...

    def bytes_fetched(self, size: int) -> None: ...

    def bytes_uploaded(self, size: int) -> None: ...

    def ffmpeg_cpu(self, seconds: float) -> None:
        """CPU seconds ffmpeg (and the tools a run starts) used, as the runner reported."""
        ...

    def webhook_attempt(self, *, outcome: str, seconds: float) -> None:
        """One delivery attempt: ``delivered``, ``retrying``, ``failed`` (gave up), ``gone``
        (410) or ``interrupted``."""
        ...

    def task_counts(self, counts: Mapping[TaskStatus, int]) -> None:
        """How many tasks the store holds in each status (refreshed when scraped)."""
        ...


#: The step names of a run, by the run's own step labels.
STEPS = {
    "fetching": "fetch",
    "encoding": "encode",
    "checking outputs": "check",
    "uploading": "upload",
}


@attrs.define
class RunTelemetry:
    """One run's span, and its end once known."""

    span: Span | None
    final: Task | None = None
    failed_step: str | None = None

    def ended(self, final: Task, *, step: str) -> None:
        """The run stored ``final``; ``step`` is where it was (for a failure)."""
        self.final = final
        if final.status is TaskStatus.FAILED:
            self.failed_step = STEPS.get(step, step)


class Telemetry:
    """A manager's metrics (optional) and spans.

    Args:
        metrics: Where measurements go; None measures nothing.
    """

    def __init__(self, metrics: Metrics | None = None) -> None:
        self.metrics = metrics

    @contextmanager
    def run(self, task: Task) -> Iterator[RunTelemetry]:
        """Around one run of a claimed task: its log context, span and measurements."""
        started = time.monotonic()
        attributes: dict[str, str | int] = {"task.id": task.id, "task.attempt": task.attempts}
        if task.owner is not None:
            attributes["task.owner"] = task.owner
        with (
            task_logging(task.id, task.owner),
            span("ffmpeg_tasks.run", parent=task.trace_context, attributes=attributes) as current,
        ):
            if self.metrics is not None:
                waited = None
                if task.attempts <= 1 and task.started_at is not None:
                    waited = max((task.started_at - task.created_at).total_seconds(), 0.0)
                self.metrics.run_started(queue_wait=waited)
            observed = RunTelemetry(span=current)
            try:
                yield observed
            finally:
                status = TaskStatus.CANCELLED if observed.final is None else observed.final.status
                set_attributes(current, {"task.status": status.value})
                if observed.failed_step is not None:
                    set_attributes(current, {"task.failed_step": observed.failed_step})
                if self.metrics is not None:
                    self.metrics.run_ended(
                        status=status.value,
                        seconds=time.monotonic() - started,
                        failed_step=observed.failed_step,
                    )

    @contextmanager
    def step(self, name: str) -> Iterator[Span | None]:
        """Around one step of a run: ``fetch``, ``encode``, ``check`` or ``upload``."""
        started = time.monotonic()
        try:
            with span(f"ffmpeg_tasks.{name}") as current:
                yield current
        finally:
            if self.metrics is not None:
                self.metrics.step_ended(name, time.monotonic() - started)

    @contextmanager
    def delivery(self, delivery: Delivery) -> Iterator[Span | None]:
        """Around one webhook delivery attempt, in the trace of the change that made it."""
        attributes: dict[str, str | int] = {
            "task.id": delivery.task_id,
            "webhook.event_id": delivery.event_id,
            "webhook.event_type": delivery.event_type,
            "webhook.attempt": delivery.attempts + 1,
        }
        with (
            task_logging(delivery.task_id, None),
            span(
                "ffmpeg_tasks.webhook.deliver",
                parent=delivery.trace_context,
                attributes=attributes,
            ) as current,
        ):
            yield current

    def fetched(self, size: int) -> None:
        if self.metrics is not None:
            self.metrics.bytes_fetched(size)

    def uploaded(self, size: int) -> None:
        if self.metrics is not None:
            self.metrics.bytes_uploaded(size)

    def ffmpeg_cpu(self, seconds: float) -> None:
        if self.metrics is not None and seconds > 0:
            self.metrics.ffmpeg_cpu(seconds)

    def webhook_attempt(self, outcome: str, seconds: float) -> None:
        if self.metrics is not None:
            self.metrics.webhook_attempt(outcome=outcome, seconds=seconds)
