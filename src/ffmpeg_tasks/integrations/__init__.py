"""Optional integrations with web frameworks, each behind its own extra.

Nothing here is imported by ``import ffmpeg_tasks``: import the integration you use, e.g.
``from ffmpeg_tasks.integrations.fastapi import create_app`` (``pip install
"ffmpeg-tasks[fastapi]"``). A missing extra raises :class:`~ffmpeg_tasks.ConfigurationError`
naming the ``pip install`` to run.

- ``fastapi``: the HTTP API of the original FFmpeg API service, as a router or a whole app.
"""

__all__: list[str] = []
