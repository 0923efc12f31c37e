"""Prometheus metrics of a :class:`~ffmpeg_tasks.TaskManager`, and an ASGI app that serves them.

``pip install "ffmpeg-tasks[metrics]"``::

    from ffmpeg_tasks import TaskManager
    from ffmpeg_tasks.integrations.prometheus import PrometheusMetrics, metrics_app

    manager = TaskManager(metrics=PrometheusMetrics())
    app.mount("/metrics", metrics_app(manager))  # any ASGI app: Starlette, FastAPI, ...

Each :class:`PrometheusMetrics` has a registry of its own unless given one (pass
``prometheus_client.REGISTRY`` to join the process's default registry and its exporters).
The task counts by status come from the store when the metrics are rendered, so they are the
same whichever process is scraped; everything else counts what this manager did.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from .._models import TaskStatus
from ._extras import missing_extra

try:
    import prometheus_client
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
except ImportError as exc:  # pragma: no cover - exercised in a subprocess without the extra
    raise missing_extra("metrics", exc) from exc

if TYPE_CHECKING:
    from .._manager import TaskManager

__all__ = ["PrometheusMetrics", "metrics_app", "render_metrics"]

#: Seconds buckets for waits and runs: a second to two hours.
_RUN_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)
#: Seconds buckets for one webhook attempt.
_ATTEMPT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class PrometheusMetrics:
    """A manager's measurements as Prometheus metrics (every name starts ``ffmpeg_tasks_``).

    Args:
        registry: Where the metrics are registered; a new ``CollectorRegistry`` when None.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.tasks = Gauge("ffmpeg_tasks_tasks", "Tasks in the store.", ["status"], registry=r)
        self.runs_in_progress = Gauge(
            "ffmpeg_tasks_runs_in_progress", "Runs of this manager going on now.", registry=r
        )
        self.queue_wait = Histogram(
            "ffmpeg_tasks_queue_wait_seconds",
            "From registration to the first claim of a task.",
            buckets=_RUN_BUCKETS,
            registry=r,
        )
        self.run_duration = Histogram(
            "ffmpeg_tasks_run_duration_seconds",
            "Runs from claim to final status, by status.",
            ["status"],
            buckets=_RUN_BUCKETS,
            registry=r,
        )
        self.step_duration = Histogram(
            "ffmpeg_tasks_step_duration_seconds",
            "Steps of runs: fetch, encode, check, upload.",
            ["step"],
            buckets=_RUN_BUCKETS,
            registry=r,
        )
        self.runs = Counter(
            "ffmpeg_tasks_runs", "Runs ended, by final status.", ["status"], registry=r
        )
        self.failures = Counter(
            "ffmpeg_tasks_failures", "Failed runs, by the step that failed.", ["step"], registry=r
        )
        self.fetched = Counter("ffmpeg_tasks_fetched_bytes", "Bytes of inputs fetched.", registry=r)
        self.uploaded = Counter(
            "ffmpeg_tasks_uploaded_bytes", "Bytes of outputs uploaded.", registry=r
        )
        self.ffmpeg_cpu_seconds = Counter(
            "ffmpeg_tasks_ffmpeg_cpu_seconds",
            "CPU seconds (user and system) of ffmpeg and the tools runs start.",
            registry=r,
        )
        self.webhook_deliveries = Counter(
            "ffmpeg_tasks_webhook_deliveries",
            "Webhook attempts by outcome: delivered, retrying, failed, gone, interrupted.",
            ["outcome"],
            registry=r,
        )
        self.webhook_duration = Histogram(
            "ffmpeg_tasks_webhook_delivery_seconds",
            "One webhook attempt, from lease to answer.",
            buckets=_ATTEMPT_BUCKETS,
            registry=r,
        )

    def __repr__(self) -> str:
        return "PrometheusMetrics()"

    # -- the Metrics port --------------------------------------------------------------------

    def run_started(self, *, queue_wait: float | None) -> None:
        self.runs_in_progress.inc()
        if queue_wait is not None:
            self.queue_wait.observe(queue_wait)

    def run_ended(self, *, status: str, seconds: float, failed_step: str | None) -> None:
        self.runs_in_progress.dec()
        self.runs.labels(status=status).inc()
        self.run_duration.labels(status=status).observe(seconds)
        if failed_step is not None:
            self.failures.labels(step=failed_step).inc()

    def step_ended(self, step: str, seconds: float) -> None:
        self.step_duration.labels(step=step).observe(seconds)

    def bytes_fetched(self, size: int) -> None:
        self.fetched.inc(size)

    def bytes_uploaded(self, size: int) -> None:
        self.uploaded.inc(size)

    def ffmpeg_cpu(self, seconds: float) -> None:
        self.ffmpeg_cpu_seconds.inc(seconds)

    def webhook_attempt(self, *, outcome: str, seconds: float) -> None:
        self.webhook_deliveries.labels(outcome=outcome).inc()
        self.webhook_duration.observe(seconds)

    def task_counts(self, counts: Mapping[TaskStatus, int]) -> None:
        for status in TaskStatus:
            self.tasks.labels(status=status.value).set(counts.get(status, 0))

    def render(self) -> bytes:
        """The text exposition format of every metric in the registry."""
        return bytes(prometheus_client.generate_latest(self.registry))


def _metrics_of(manager: TaskManager) -> PrometheusMetrics:
    metrics = manager.metrics
    if not isinstance(metrics, PrometheusMetrics):
        from .._errors import ConfigurationError

        raise ConfigurationError(
            "this manager has no Prometheus metrics: build it with "
            "TaskManager(metrics=PrometheusMetrics()), or set FFMPEG_TASKS_METRICS=1"
        )
    return metrics


async def render_metrics(manager: TaskManager) -> tuple[bytes, str]:
    """The manager's metrics, the task counts read from the store now, and the content type
    to answer them with.

    Raises:
        ConfigurationError: the manager has no :class:`PrometheusMetrics`, or the store
            cannot be read.
    """
    metrics = _metrics_of(manager)
    metrics.task_counts(await manager.counts())
    return metrics.render(), prometheus_client.CONTENT_TYPE_LATEST


def metrics_app(manager: TaskManager) -> ASGIApp:
    """An ASGI app answering ``GET`` with the manager's metrics; mount it in any app.

    It does no authentication: mount it where only the scraper reaches it, or behind the
    app's own (``create_app`` serves ``/metrics`` behind its API keys).

    Raises:
        ConfigurationError: the manager has no :class:`PrometheusMetrics`.
    """
    _metrics_of(manager)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # served on its own: nothing to start or stop
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if scope["method"] not in {"GET", "HEAD"}:
            await _answer(send, 405, b"only GET\n", "text/plain", {"allow": "GET, HEAD"})
            return
        body, content_type = await render_metrics(manager)
        await _answer(send, 200, body, content_type, head=scope["method"] == "HEAD")

    return app


async def _answer(
    send: Send,
    status: int,
    body: bytes,
    content_type: str,
    headers: Mapping[str, str] | None = None,
    *,
    head: bool = False,
) -> None:
    raw = [(b"content-type", content_type.encode()), (b"content-length", b"%d" % len(body))]
    raw += [(name.encode(), value.encode()) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": b"" if head else body})
