"""A task as the HTTP API shows it, without pydantic: the ``data`` of every webhook.

Field for field the JSON of the API's ``TaskResponse`` (a test holds the two together), so a
receiver parses a webhook and a status poll alike. ffmpeg's raw output (``Task.log``), the
owner and the run's bookkeeping (worker, lease, trace context) are never in it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ._expect import Expectation
from ._models import Output, Task

__all__ = ["task_json"]


def task_json(task: Task) -> dict[str, Any]:
    """The public fields of ``task``, one by one, JSON-ready (``webhooks`` is null: a
    webhook's own deliveries are not in its body)."""
    return {
        "task_id": task.id,
        "status": task.status.value,
        "phase": None if task.phase is None else task.phase.value,
        "progress": task.progress,
        "overall_progress": task.overall_progress,
        "speed": task.speed,
        "eta": task.eta,
        "command": task.command,
        "input_files": dict(task.input_files),
        "output_filename": task.output_filename,
        "output_patterns": list(task.output_patterns),
        "expect": [_expectation(expectation) for expectation in task.expect],
        "output_url": task.output_url,
        "download_url": task.download_url,
        "download_url_expires_at": _time(task.download_expires_at),
        "outputs": [_output(output) for output in task.outputs],
        "error": task.error,
        "timeout": task.timeout,
        "queue": task.queue,
        "priority": task.priority,
        "webhook_url": task.webhook_url,
        "webhooks": None,
        "created_at": _time(task.created_at),
        "started_at": _time(task.started_at),
        "finished_at": _time(task.finished_at),
    }


def _time(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, as the API writes times."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _expectation(expectation: Expectation) -> dict[str, Any]:
    given = expectation.to_dict()
    return {key: given.get(key) for key in _EXPECTATION_KEYS}


_EXPECTATION_KEYS = (
    "output",
    "duration",
    "tolerance",
    "video",
    "audio",
    "subtitle",
    "video_codec",
    "audio_codec",
    "width",
    "height",
)


def _output(output: Output) -> dict[str, Any]:
    return {
        "name": output.name,
        "url": output.url,
        "download_url": output.download_url,
        "download_url_expires_at": _time(output.download_expires_at),
        "size": output.size,
        "content_type": output.content_type,
        "sha256": output.sha256,
        "media": None if output.media is None else output.media.to_dict(),
    }
