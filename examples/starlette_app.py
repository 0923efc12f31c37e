"""Embedding ffmpeg-tasks in a plain Starlette app: a TaskManager opened in the app's lifespan.

The app has its own API, not the FFmpeg API's; it makes small previews of videos:

    POST /previews {"video_url": "https://...", "height": 360}  -> 202 {"task_id": "..."}
    GET  /previews/{task_id}  -> {"status", "progress", "url", "error"}

Run it (Starlette and uvicorn come with the ``fastapi`` extra; the manager is configured by
``TaskManager.from_env``: ``S3_BUCKET``, ``AWS_*``...):

    uv run --extra fastapi uvicorn --factory examples.starlette_app:create_app
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ffmpeg_tasks import InvalidTaskError, TaskManager, TaskNotFoundError

#: What a preview is: the video scaled to ``height`` lines, H.264 and AAC.
PREVIEW = "-i video.mp4 -vf scale=-2:{height} -c:v libx264 -preset veryfast -c:a aac preview.mp4"
#: A preview's height is one of these.
HEIGHTS = range(72, 1081)


def create_app(manager: TaskManager | None = None) -> Starlette:
    """The preview service; ``manager`` defaults to one built from the environment."""
    tasks = manager if manager is not None else TaskManager.from_env()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with tasks:  # start() needs the open manager; leaving cancels unfinished runs
            yield

    async def create_preview(request: Request) -> JSONResponse:
        usage = 'send JSON: {"video_url": "https://...", "height": 360}'
        try:
            body: Any = await request.json()
            url, height = body["video_url"], body.get("height", 360)
        except (ValueError, KeyError, TypeError, AttributeError):
            return problem(422, usage)
        if not isinstance(url, str) or isinstance(height, bool) or not isinstance(height, int):
            return problem(422, usage)  # 1e400, "360", true: a whole number or nothing
        if height not in HEIGHTS:
            return problem(422, f"height must be from {HEIGHTS.start} to {HEIGHTS.stop - 1}")
        try:
            task = await tasks.register(
                PREVIEW.format(height=height), {"video.mp4": url}, "preview.mp4", timeout=600
            )
        except InvalidTaskError as exc:  # the message says what to fix: show it
            return problem(422, str(exc))
        await tasks.start(task.id)
        location = str(request.url_for("preview", task_id=task.id))
        return JSONResponse({"task_id": task.id}, status_code=202, headers={"Location": location})

    async def preview(request: Request) -> JSONResponse:
        try:
            task = await tasks.get(request.path_params["task_id"])
        except TaskNotFoundError:
            return problem(404, "no such preview")
        return JSONResponse(
            {
                "status": task.status.value,
                "progress": task.progress,
                "url": task.download_url or task.output_url,
                "error": task.error,  # safe to show; task.log (ffmpeg's raw stderr) is not
            }
        )

    routes = [
        Route("/previews", create_preview, methods=["POST"]),
        Route("/previews/{task_id}", preview, name="preview"),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def problem(status_code: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status_code)
