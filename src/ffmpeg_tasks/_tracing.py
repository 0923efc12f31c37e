"""OpenTelemetry spans of runs and deliveries, when ``opentelemetry-api`` is installed.

Without it (the ``tracing`` extra) every function here does nothing. With it, spans go to
whatever tracer provider the application set up; with none, the API's own no-op one.

Trace context crosses processes as W3C headers (``traceparent``, ``tracestate``) stored on the
task at registration and on each webhook delivery, so a run or a delivery in another process
joins the trace of whoever registered the task or made the event.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

__all__ = ["current_trace_context", "inject", "set_attributes", "span"]

try:
    from opentelemetry import propagate, trace
except ImportError:  # pragma: no cover - exercised in a subprocess without the extra
    propagate = None  # type: ignore[assignment]
    trace = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from opentelemetry.trace import Span

#: The instrumentation scope our spans are made under.
SCOPE = "ffmpeg_tasks"

Attributes = Mapping[str, str | int | float | bool]


def current_trace_context() -> dict[str, str]:
    """The current span's context as W3C headers; empty when there is none."""
    if propagate is None or not trace.get_current_span().get_span_context().is_valid:
        return {}
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


@contextmanager
def span(
    name: str, *, parent: Mapping[str, str] | None = None, attributes: Attributes | None = None
) -> Iterator[Span | None]:
    """A span around the block, current inside it; None without OpenTelemetry.

    Its parent is the current span, or, when none is current, the one ``parent`` names (a
    context stored by another process).
    """
    if trace is None:
        yield None
        return
    context: Any = None
    if parent and not trace.get_current_span().get_span_context().is_valid:
        context = propagate.extract(dict(parent))
    tracer = trace.get_tracer(SCOPE)
    with tracer.start_as_current_span(
        name, context=context, attributes=dict(attributes or {})
    ) as current:
        yield current


def set_attributes(current: Span | None, attributes: Attributes) -> None:
    """Add attributes to a span from :func:`span` (nothing when it is None)."""
    if current is not None:
        current.set_attributes(dict(attributes))


def inject(headers: dict[str, str]) -> None:
    """Add the current span's W3C headers to an outgoing request's ``headers``."""
    if propagate is not None and trace.get_current_span().get_span_context().is_valid:
        propagate.inject(headers)
