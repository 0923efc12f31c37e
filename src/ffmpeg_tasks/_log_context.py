"""Which task a log record is about: ``task_id`` and ``owner`` on every record of a run.

A context variable holds the task while its run (or a webhook delivery of it) goes on, and
:class:`TaskLogFilter` copies it onto each record: on the ``ffmpeg_tasks`` logger always, and
on any handler it is added to (so the records of httpx, boto3 and the application made during
a run carry it too). Outside a run both attributes are None.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["TaskLogFilter", "task_logging"]

_current: ContextVar[tuple[str, str | None] | None] = ContextVar(
    "ffmpeg_tasks_log_task", default=None
)


class TaskLogFilter(logging.Filter):
    """Sets ``record.task_id`` and ``record.owner`` from the run the record was made in.

    Example::

        handler = logging.StreamHandler()
        handler.addFilter(TaskLogFilter())
        handler.setFormatter(logging.Formatter("%(task_id)s %(owner)s %(message)s"))
    """

    def filter(self, record: logging.LogRecord) -> bool:
        current = _current.get()
        if not hasattr(record, "task_id"):
            record.task_id = None if current is None else current[0]
        if not hasattr(record, "owner"):
            record.owner = None if current is None else current[1]
        return True


@contextmanager
def task_logging(task_id: str, owner: str | None) -> Iterator[None]:
    """Records made inside the block (and in tasks it starts) are about this task."""
    token = _current.set((task_id, owner))
    try:
        yield
    finally:
        _current.reset(token)


logging.getLogger("ffmpeg_tasks").addFilter(TaskLogFilter())
