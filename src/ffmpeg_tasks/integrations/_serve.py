"""``ffmpeg-tasks serve``: the FFmpeg API service under uvicorn, configured from the environment."""

from __future__ import annotations

from ._extras import missing_extra

__all__ = ["serve"]


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    log_level: str = "info",
    shutdown_timeout: int = 10,
) -> None:
    """Build the app with :func:`~ffmpeg_tasks.integrations.fastapi.create_app` and run it.

    The manager comes from :meth:`~ffmpeg_tasks.TaskManager.from_env` (``S3_BUCKET``,
    ``AWS_*``, ``FFMPEG_TASKS_DATABASE``) and the keys from ``FFMPEG_TASKS_API_KEYS``, as in
    the original service. Tasks run inside this process, or, with
    ``FFMPEG_TASKS_WORKERS=procrastinate``, in ``ffmpeg-tasks worker`` processes.

    On SIGINT or SIGTERM the server stops accepting connections and gives the requests in
    flight ``shutdown_timeout`` seconds; then it cancels them (a waiting ``execute`` ends its
    task ``cancelled``) and the lifespan closes the manager, cancelling background runs.

    Raises:
        ConfigurationError: the extra is missing or a variable is unusable (before listening).
    """
    try:
        import uvicorn
    except ImportError as exc:
        raise missing_extra("fastapi", exc) from exc
    from .fastapi import create_app

    app = create_app()
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        timeout_graceful_shutdown=shutdown_timeout,
    )
