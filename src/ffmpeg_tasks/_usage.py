"""The CPU time a run's child processes used, as its runner reports it.

``resource.getrusage(RUSAGE_CHILDREN)`` is the only account of a child's CPU time that
survives its reaping by the event loop's child watcher; it covers every child of the process
reaped so far (ffmpeg's time reaches it through the sandbox and the launcher as each reaps its
own child). :data:`CHILD_CPU` hands out each second of it once, to the run that asks first
after its child ended: exact in total, and per run while runs do not end at the same moment
(a run may then get part of a neighbour's, which the neighbour does not get again).
"""

from __future__ import annotations

import resource
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import attrs

__all__ = ["CHILD_CPU", "ChildCpu", "CpuUsage", "measured", "report_cpu_seconds"]


@attrs.define
class CpuUsage:
    """What the runner reported during one :func:`measured` block."""

    seconds: float = 0.0


_current: ContextVar[CpuUsage | None] = ContextVar("ffmpeg_tasks_cpu_usage", default=None)


@contextmanager
def measured() -> Iterator[CpuUsage]:
    """Collect what :func:`report_cpu_seconds` is told inside the block (and in the tasks it
    starts)."""
    usage = CpuUsage()
    token = _current.set(usage)
    try:
        yield usage
    finally:
        _current.reset(token)


def report_cpu_seconds(seconds: float) -> None:
    """A runner's report of the CPU seconds its child used; ignored outside a run."""
    usage = _current.get()
    if usage is not None and seconds > 0:
        usage.seconds += seconds


class ChildCpu:
    """Hands out the CPU time of this process's reaped children, each second once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._taken = self._total()

    def take(self) -> float:
        """CPU seconds (user and system) of the children reaped since the last call."""
        with self._lock:
            total = self._total()
            taken, self._taken = total - self._taken, total
        return max(taken, 0.0)

    @staticmethod
    def _total() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime


#: The one account of this process.
CHILD_CPU = ChildCpu()
