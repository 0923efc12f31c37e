"""Thumbnails of a video: one every second as ``thumb_001.jpg``, ``thumb_002.jpg``..., a contact
sheet of them, and the video's poster frame, in one task.

    uv run --extra ffmpeg python examples/thumbnails.py https://example.com/video.mp4

The outputs go to ``./out/<task id>/``. Inputs from loopback or private addresses are refused
unless you pass --allow-private-networks.
"""

from __future__ import annotations

import argparse
import sys

import anyio

from ffmpeg_tasks import InvalidTaskError, Task, TaskManager
from ffmpeg_tasks.fetchers import HttpFetcher
from ffmpeg_tasks.uploaders import LocalUploader

#: Three outputs of one input: a numbered sequence, one sheet, one poster.
THUMBNAILS = (
    "-i input.mp4 "
    "-map 0:v -vf fps=1,scale=160:-2 thumb_%03d.jpg "
    "-map 0:v -vf fps=1,scale=160:-2,tile=4x4 -frames:v 1 sheet.jpg "
    "-map 0:v -ss 1 -frames:v 1 poster.jpg"
)


async def thumbnails(url: str, *, dest: str = "out", allow_private_networks: bool = False) -> Task:
    """Make the thumbnails of the video at ``url``; return the finished task."""
    manager = TaskManager(
        fetcher=HttpFetcher(allow_private_networks=allow_private_networks),
        uploader=LocalUploader(dest),
    )
    async with manager:
        task = await manager.register(
            THUMBNAILS,
            {"input.mp4": url},
            "sheet.jpg",
            outputs=["thumb_%03d.jpg", "poster.jpg"],
            expect=[{"output": "thumb_%03d.jpg", "width": 160, "video_codec": "mjpeg"}],
        )
        return await manager.execute(task.id)


def main() -> None:
    parser = argparse.ArgumentParser(description="Make thumbnails with ffmpeg-tasks.")
    parser.add_argument("url")
    parser.add_argument("--dest", default="out")
    parser.add_argument("--allow-private-networks", action="store_true")
    options = parser.parse_args()
    try:
        done = anyio.run(
            lambda: thumbnails(
                options.url,
                dest=options.dest,
                allow_private_networks=options.allow_private_networks,
            )
        )
    except InvalidTaskError as exc:  # the message says what to change
        print(f"refused: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    for output in done.outputs:
        video = output.media.of_type("video") if output.media else ()
        size = f" {video[0].width}x{video[0].height}" if video else ""
        print(f"{output.name}{size} {output.url}")
    print(done.output_url if done.output_url else f"failed: {done.error}")
    raise SystemExit(0 if done.output_url else 1)


if __name__ == "__main__":
    main()
