"""Transcode one video with a TaskManager, printing progress as it goes.

    uv run --extra ffmpeg python examples/transcode.py https://example.com/video.mp4

Inputs from loopback or private addresses are refused unless you pass --allow-private-networks.
"""

from __future__ import annotations

import argparse
import sys

import anyio

from ffmpeg_tasks import InvalidTaskError, Task, TaskManager
from ffmpeg_tasks.fetchers import HttpFetcher
from ffmpeg_tasks.uploaders import LocalUploader


async def transcode(url: str, *, dest: str = "out", allow_private_networks: bool = False) -> Task:
    """Scale the video at ``url`` to 640 pixels wide and return the finished task."""
    manager = TaskManager(
        fetcher=HttpFetcher(allow_private_networks=allow_private_networks),
        uploader=LocalUploader(dest),
    )
    async with manager:
        task = await manager.register(
            "-i input.mp4 -vf scale=640:-2 -c:v libx264 -preset veryfast -c:a aac output.mp4",
            {"input.mp4": url},
            "output.mp4",
        )
        await manager.start(task.id)
        async for state in manager.watch(task.id):
            progress = "" if state.progress is None else f" {state.progress:.0%}"
            print(f"{state.status.value} {state.phase or ''}{progress}")
        return await manager.get(task.id)


def main() -> None:
    parser = argparse.ArgumentParser(description="Transcode one video with ffmpeg-tasks.")
    parser.add_argument("url")
    parser.add_argument("--dest", default="out")
    parser.add_argument("--allow-private-networks", action="store_true")
    options = parser.parse_args()
    try:
        done = anyio.run(
            lambda: transcode(
                options.url,
                dest=options.dest,
                allow_private_networks=options.allow_private_networks,
            )
        )
    except InvalidTaskError as exc:  # the message says what to change
        print(f"refused: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    print(done.output_url if done.output_url else f"failed: {done.error}")
    raise SystemExit(0 if done.output_url else 1)


if __name__ == "__main__":
    main()
