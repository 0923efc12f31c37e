"""The blocking facade, as in a plain script or a Jupyter cell: no async, no await.

uv run --extra ffmpeg python examples/blocking.py https://example.com/video.mp4
"""

from __future__ import annotations

import sys

from ffmpeg_tasks import SyncTaskManager, Task, TaskManager
from ffmpeg_tasks.fetchers import HttpFetcher
from ffmpeg_tasks.uploaders import LocalUploader


def extract_audio(url: str, *, dest: str = "out", allow_private_networks: bool = False) -> Task:
    """Pull the audio track of the video at ``url`` into an MP3 and return the finished task."""
    manager = TaskManager(
        fetcher=HttpFetcher(allow_private_networks=allow_private_networks),
        uploader=LocalUploader(dest),
    )
    with SyncTaskManager(manager) as tasks:
        task = tasks.register(
            "-i video.mp4 -vn -c:a libmp3lame -q:a 4 audio.mp3", {"video.mp4": url}, "audio.mp3"
        )
        return tasks.execute(task.id)


if __name__ == "__main__":
    done = extract_audio(sys.argv[1])
    print(done.output_url or f"failed: {done.error}")
