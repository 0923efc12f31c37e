"""Helpers for the HTTP API tests: an ASGI lifespan driver, clients, managers and polling.

httpx's ``ASGITransport`` sends requests only, never the ASGI ``lifespan`` events, so
:func:`running_lifespan` sends them by hand, the way a server does.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
from starlette.types import ASGIApp, Message, Scope

from ffmpeg_tasks import TaskManager
from ffmpeg_tasks.testing import FakeFetcher, FakeRunner, FakeUploader, MemoryStore

#: The input every fake task reads.
INPUT_URL = "https://media.example.com/in.mp4"
#: A valid registration body for fake managers.
TASK_BODY: dict[str, Any] = {
    "command": "-i in.mp4 -c copy out.mp4",
    "input_files": {"in.mp4": INPUT_URL},
    "output_filename": "out.mp4",
}
#: A valid registration body for real ffmpeg on ``media_dir``'s clip.mp4 (``real_manager``).
REAL_COMMAND = "-i clip.mp4 -vf scale=80:60 -c:v libx264 -preset ultrafast -c:a aac small.mp4"


@asynccontextmanager
async def running_lifespan(app: ASGIApp) -> AsyncIterator[None]:
    """Send ``lifespan.startup`` to ``app``, run the block, then send ``lifespan.shutdown``."""
    to_app, app_inbox = anyio.create_memory_object_stream[Message](4)
    app_outbox, from_app = anyio.create_memory_object_stream[Message](4)
    scope: Scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}

    async def run_app() -> None:
        await app(scope, app_inbox.receive, app_outbox.send)

    try:
        async with to_app, app_inbox, app_outbox, from_app, anyio.create_task_group() as group:
            group.start_soon(run_app)
            await to_app.send({"type": "lifespan.startup"})
            started = await from_app.receive()
            assert started["type"] == "lifespan.startup.complete", started
            try:
                yield
            finally:
                await to_app.send({"type": "lifespan.shutdown"})
                stopped = await from_app.receive()
                assert stopped["type"] == "lifespan.shutdown.complete", stopped
    except BaseExceptionGroup as errors:
        # The block's own failure (an assert), not wrapped by the task group around it.
        if len(errors.exceptions) == 1 and isinstance(errors.exceptions[0], Exception):
            raise errors.exceptions[0] from None
        raise


def asgi_client(app: ASGIApp, **kwargs: Any) -> httpx.AsyncClient:
    """An httpx client that calls ``app`` in-process."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver", **kwargs
    )


def fake_manager(*, duration: float = 0.0, fail_with: int | None = None) -> TaskManager:
    """A manager on the in-memory fakes: every call is cheap; ``INPUT_URL`` exists."""
    return TaskManager(
        MemoryStore(),
        FakeFetcher({INPUT_URL: b"video bytes"}),
        FakeRunner(duration=duration, steps=10, fail_with=fail_with),
        FakeUploader(),
        progress_interval=0.0,
        poll_interval=0.05,
    )


async def wait_for_status(
    client: httpx.AsyncClient,
    task_id: str,
    done: Callable[[dict[str, Any]], bool],
    *,
    timeout: float = 10.0,
    headers: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Poll ``GET /ffmpeg/status/{task_id}`` until ``done(state)``; return every state seen."""
    seen: list[dict[str, Any]] = []
    with anyio.fail_after(timeout):
        while True:
            response = await client.get(f"/ffmpeg/status/{task_id}", headers=headers)
            assert response.status_code == 200, response.text
            seen.append(response.json())
            if done(seen[-1]):
                return seen
            await anyio.sleep(0.02)


class Server:
    """A server process on a free loopback port, its log in a file (no pipe to fill up)."""

    def __init__(self, args: Sequence[str], *, env: Mapping[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as sink:
            self.process = subprocess.Popen(
                list(args), cwd=ROOT, env=dict(env), stdout=sink, stderr=subprocess.STDOUT
            )
        self.url = self._wait_for_url(timeout=30)

    def _wait_for_url(self, *, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(r"running on (http://127\.0\.0\.1:\d+)", self.log.read_text())
            if found:
                return found.group(1)
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise AssertionError(f"the server did not start; its log:\n{self.log.read_text()}")

    def stop(self, timeout: float = 15) -> int:
        """Stop it the way an operator does (SIGINT) and return its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


#: The repository, so ``tests.api._server_app`` is importable by the server process.
ROOT = Path(__file__).resolve().parents[2]


def server_env(**extra: str) -> dict[str, str]:
    """This environment without any API keys, database or S3 set-up, plus ``extra``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FFMPEG_TASKS_", "AWS_", "S3_"))
    }
    return {**env, **extra}


def uvicorn_args(factory: str) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", "--factory", factory,
        "--host", "127.0.0.1", "--port", "0", "--log-level", "info",
    ]  # fmt: skip
