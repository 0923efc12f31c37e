"""The blocking facade, as in a plain script or a Jupyter cell: no async, no await.

    uv run --extra ffmpeg python examples/blocking.py https://example.com/video.mp4 [--dest out]

Inputs from loopback or private addresses are refused unless you pass --allow-private-networks.
"""

from __future__ import annotations

import argparse
import sys

from ffmpeg_tasks import InvalidTaskError, SyncTaskManager, Task, TaskManager
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


def main() -> None:
    parser = argparse.ArgumentParser(description="Extract a video's audio with ffmpeg-tasks.")
    parser.add_argument("url")
    parser.add_argument("--dest", default="out")
    parser.add_argument("--allow-private-networks", action="store_true")
    options = parser.parse_args()
    try:
        done = extract_audio(
            options.url, dest=options.dest, allow_private_networks=options.allow_private_networks
        )
    except InvalidTaskError as exc:  # the message says what to change
        print(f"refused: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    print(done.output_url or f"failed: {done.error}")
    raise SystemExit(0 if done.output_url else 1)


if __name__ == "__main__":
    main()
