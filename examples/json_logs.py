"""Log as one JSON object per line, each record of a run carrying its task's id and owner.

    uv run python examples/json_logs.py

Uses only the standard library's ``logging``: a formatter that writes JSON and
``ffmpeg_tasks.TaskLogFilter``, which sets ``task_id`` and ``owner`` on every record made
while a task runs (the records of your own code and of other libraries too, since the
filter sits on the handler). The task here runs on the in-memory fakes and fails on purpose,
so that something is logged.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import anyio

from ffmpeg_tasks import TaskLogFilter, TaskManager
from ffmpeg_tasks.testing import FakeFetcher, FakeRunner, FakeUploader, MemoryStore


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, task_id, owner, error."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "task_id": getattr(record, "task_id", None),
            "owner": getattr(record, "owner", None),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure_logging() -> None:
    handler = logging.StreamHandler()
    handler.addFilter(TaskLogFilter())
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


class CountingFetcher(FakeFetcher):
    """Your own adapter's records get the task too."""

    async def fetch(self, url: str, *, destination: Path) -> int:
        logging.getLogger("my_app").info("fetching %s", url)
        return await super().fetch(url, destination=destination)


async def main() -> None:
    configure_logging()
    url = "https://media.example/in.mp4"
    manager = TaskManager(
        MemoryStore(), CountingFetcher({url: b"video"}), FakeRunner(fail_with=1), FakeUploader()
    )
    async with manager:
        task = await manager.register(
            "-i in.mp4 -c copy out.mp4", {"in.mp4": url}, "out.mp4", owner="user-42"
        )
        done = await manager.execute(task.id)
        logging.getLogger("my_app").info("task %s ended %s", done.id, done.status.value)


if __name__ == "__main__":
    anyio.run(main)
